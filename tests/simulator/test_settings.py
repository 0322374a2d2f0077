"""Settings: defaults, parsing, and refusing to start with a message naming the variable."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from binance_tool.config.settings import SettingsError, load_settings
from services.exchange_simulator.settings import DEV_API_KEY, DEV_API_SECRET, SimulatorSettings

from .conftest import DAY0


def test_defaults_start_2019_at_one_day_per_second(dataset: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIM_DATA_DIR", str(dataset))
    s = load_settings(SimulatorSettings)
    assert (s.sim_host, s.sim_port, s.sim_start, s.sim_speed) == ("127.0.0.1", 9400, DAY0, 86_400.0)
    assert s.sim_symbols == [] and s.sim_end is None and s.sim_exchange_info_all is False


def test_env_values_are_parsed(dataset: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIM_DATA_DIR", str(dataset))
    monkeypatch.setenv("SIM_SYMBOLS", "testusdt, ")
    monkeypatch.setenv("SIM_START", "2019-01-02T12:00:00Z")
    monkeypatch.setenv("SIM_END", str(DAY0 + 3 * 86_400_000))
    monkeypatch.setenv("SIM_SPEED", "0")
    monkeypatch.setenv("SIM_FAULT_HTTP_429_EVERY", "3")
    s = load_settings(SimulatorSettings)
    assert s.sim_symbols == ["TESTUSDT"]
    assert s.sim_start == DAY0 + 86_400_000 + 12 * 3_600_000
    assert s.sim_end == DAY0 + 3 * 86_400_000 and s.sim_speed == 0 and s.sim_fault_http_429_every == 3


def test_relative_data_dir_resolves_against_the_working_directory(dataset: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(dataset.parent)
    monkeypatch.setenv("SIM_DATA_DIR", dataset.name)
    assert load_settings(SimulatorSettings).sim_data_dir == dataset.resolve()


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("SIM_DATA_DIR", "/nonexistent/data"),
        ("SIM_SPEED", "fast"),
        ("SIM_SPEED", "-1"),
        ("SIM_START", "yesterday"),
        ("SIM_PORT", "70000"),
        ("SIM_SYMBOLS", "TESTUSDT,NOPEUSDT"),
        ("SIM_FAULT_WS_DROP_EVERY", "-2"),
        ("SIM_EXCHANGE_INFO_ALL", "maybe"),
        ("SIM_END", "2018-01-01"),
        ("SIM_BALANCES", "USDT=lots"),
        ("SIM_BALANCES", "USDT"),
        ("SIM_BALANCES", "USDT=-5"),
        ("SIM_API_KEY", "has spaces"),
        ("SIM_FEE_RATE", "-0.1"),
        ("SIM_PARTIAL_FILL_RATIO", "0"),
        ("SIM_PARTIAL_FILL_RATIO", "1.5"),
        ("SIM_FAULT_REPLY_LOST_MODE", "drop"),
        ("SIM_FAULT_ORDER_429_NEXT", "-1"),
    ],
)
def test_bad_value_refuses_to_start_naming_the_variable(
    dataset: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str
):
    monkeypatch.setenv("SIM_DATA_DIR", str(dataset))
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as exc:
        load_settings(SimulatorSettings)
    assert variable in exc.value.message


def test_trading_settings_default_to_the_documented_dev_account(dataset: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("SIM_DATA_DIR", str(dataset))
    s = load_settings(SimulatorSettings)
    assert (s.sim_api_key, s.sim_api_secret) == (DEV_API_KEY, DEV_API_SECRET)
    assert s.sim_balances == {"USDT": Decimal(10_000)}
    assert (s.sim_fee_rate, s.sim_partial_fill_ratio) == (Decimal("0.001"), Decimal(1))
    monkeypatch.setenv("SIM_BALANCES", "usdt=2500.5, BTC=0.25")
    monkeypatch.setenv("SIM_PARTIAL_FILL_RATIO", "0.25")
    s = load_settings(SimulatorSettings)
    assert s.sim_balances == {"USDT": Decimal("2500.5"), "BTC": Decimal("0.25")}
    assert s.sim_partial_fill_ratio == Decimal("0.25")
