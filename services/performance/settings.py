from __future__ import annotations

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from binance_tool.config.settings import (
    COMMON,
    BusSettings,
    ExchangeSettings,
    ObservabilitySettings,
    RedisSettings,
)


class PerformanceSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    performance_account: str = Field(
        default="default", min_length=1, description="the account whose positions are reported and counted"
    )
    performance_positions_interval_s: float = Field(
        default=3600.0, gt=0, description="open positions are reported at start and then this often"
    )
    performance_key_prefix: str = Field(
        default="performance", pattern=r"^[a-zA-Z0-9_.-]+$", description="prefix of the service's Redis keys"
    )
    performance_update_attempts: int = Field(
        default=100, ge=1, le=10_000, description="optimistic Redis transaction attempts before an event is retried"
    )
