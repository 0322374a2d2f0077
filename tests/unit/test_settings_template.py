"""dot-env-template lists every setting, and bad settings fail naming the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from binance_tool.config import SettingsError, load_settings
from services.candle_ingestion.settings import IngestionSettings
from services.edge70_signals.settings import Edge70ServiceSettings
from services.exchange_simulator.settings import SimulatorSettings
from services.order_ingestion.settings import OrderIngestionSettings
from services.performance.settings import PerformanceSettings
from services.position_checker.settings import CheckerSettings
from services.position_sizer.settings import SizerSettings
from services.trackers.settings import TrackersSettings
from services.trade_abstraction.settings import TasSettings

TEMPLATE = Path(__file__).resolve().parents[2] / "dot-env-template"


def template_names() -> set[str]:
    return {line.split("=", 1)[0] for line in TEMPLATE.read_text().splitlines() if line and not line.startswith("#")}


@pytest.mark.parametrize(
    "cls",
    [
        IngestionSettings,
        Edge70ServiceSettings,
        SimulatorSettings,
        TasSettings,
        SizerSettings,
        TrackersSettings,
        OrderIngestionSettings,
        PerformanceSettings,
        CheckerSettings,
    ],
)
def test_dot_env_template_lists_every_setting_of_every_service(cls):
    missing = {name.upper() for name in cls.model_fields} - template_names()
    assert not missing


@pytest.mark.parametrize(
    ("var", "value"),
    [("AMQP_URL", "http://x"), ("EDGE70_LONG_LOOKBACK", "zero"), ("LOG_LEVEL", "LOUD"), ("EXCHANGE", "kraken")],
)
def test_an_invalid_setting_fails_at_start_up_naming_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as exc:
        load_settings(Edge70ServiceSettings)
    assert var in exc.value.message


def test_ingestion_refuses_an_unknown_interval(monkeypatch):
    monkeypatch.setenv("INGESTION_INTERVALS", "1d,7x")
    with pytest.raises(SettingsError, match="INGESTION_INTERVALS"):
        load_settings(IngestionSettings)


def test_generated_bus_reference_in_docs_is_up_to_date():
    from binance_tool.bus.topology import render_reference
    from services.subscriptions import ALL_SUBSCRIPTIONS

    doc = TEMPLATE.parent / "docs" / "bus-reference.md"
    assert doc.read_text().strip() == render_reference(ALL_SUBSCRIPTIONS).strip(), (
        "run `make docs` to regenerate docs/bus-reference.md"
    )


@pytest.mark.parametrize(
    ("value", "message"),
    [("", "at least one token"), ("sizer=short", "at least 16"), ("admin=0123456789abcdef0", "role=token")],
)
def test_the_tas_refuses_to_start_without_proper_tokens(monkeypatch, value, message):
    monkeypatch.setenv("TAS_TOKENS", value)
    with pytest.raises(SettingsError, match="TAS_TOKENS") as exc:
        load_settings(TasSettings)
    assert message in exc.value.message
