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
from services.performance.subscriptions import DEFAULT_QUEUE


class PerformanceSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    performance_account: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the account whose positions are reported and counted (letters, digits, _ and -)",
    )
    performance_queue: str = Field(
        default=DEFAULT_QUEUE,
        pattern=r"^[A-Za-z0-9_.:-]{1,200}$",
        description="the quorum queue the edge-performance consumer reads (another name: a separate consumer)",
    )
    performance_queue_expires_ms: int = Field(
        default=0,
        ge=0,
        description="x-expires of that queue: deleted after this long unused (0: never; for tests and trials)",
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
