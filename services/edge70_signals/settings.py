from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from binance_tool.config.settings import (
    COMMON,
    BusSettings,
    ExchangeSettings,
    ObservabilitySettings,
    RedisSettings,
)


class Edge70ServiceSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    edge70_long_lookback: int = Field(default=44, ge=1, le=500)
    edge70_short_lookback: int = Field(default=21, ge=1, le=500)
    edge70_quote_asset: str = "USDT"
    edge70_symbols: str = Field(default="", description="comma list; empty = the exchange's universe")
    edge70_warmup_candles: int = Field(
        default=1000, ge=1, le=20_000, description="history replayed to seed a market's unknown direction"
    )
    edge70_state_ttl_s: int = Field(default=3 * 24 * 3600, ge=60)

    @field_validator("edge70_symbols")
    @classmethod
    def _symbols(cls, v: str) -> str:
        return ",".join(s.strip().upper() for s in v.split(",") if s.strip())

    @property
    def symbols(self) -> list[str] | None:
        return self.edge70_symbols.split(",") if self.edge70_symbols else None
