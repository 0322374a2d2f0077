"""The entry point refuses to start on bad settings, naming the variable."""

from __future__ import annotations

import pytest

from binance_tool.config.settings import SettingsError
from services.exchange_simulator import main


def test_run_refuses_to_start_with_a_bad_setting_naming_it(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIM_SPEED", "warp")
    with pytest.raises(SettingsError, match="SIM_SPEED"):
        main.run()


def test_run_refuses_to_start_without_the_data_directory(monkeypatch: pytest.MonkeyPatch, tmp_path):
    monkeypatch.setenv("SIM_DATA_DIR", str(tmp_path / "missing"))
    with pytest.raises(SettingsError, match="SIM_DATA_DIR"):
        main.run()
