"""Settings shared by every service (pydantic-settings from the environment / `.env`)."""

from binance_tool.config.settings import (
    BusSettings,
    ExchangeSettings,
    ObservabilitySettings,
    RedisSettings,
    SettingsError,
    load_settings,
)

__all__ = [
    "BusSettings",
    "ExchangeSettings",
    "ObservabilitySettings",
    "RedisSettings",
    "SettingsError",
    "load_settings",
]
