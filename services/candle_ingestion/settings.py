from __future__ import annotations

import os
import socket

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from binance_tool.config.settings import COMMON, BusSettings, ExchangeSettings, ObservabilitySettings, RedisSettings
from binance_tool.market.candles import INTERVAL_MS


class IngestionSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    ingestion_symbols: str = Field(default="", description="comma list; empty = the exchange's universe")
    ingestion_quote_asset: str = "USDT"
    ingestion_intervals: str = "1d"
    ingestion_replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    @field_validator("ingestion_intervals")
    @classmethod
    def _intervals(cls, v: str) -> str:
        items = [x.strip() for x in v.split(",") if x.strip()]
        bad = [x for x in items if x not in INTERVAL_MS]
        if not items or bad:
            raise ValueError(f"intervals must be a comma list of {', '.join(INTERVAL_MS)}; got {v!r}")
        return ",".join(items)

    @field_validator("ingestion_symbols")
    @classmethod
    def _symbols(cls, v: str) -> str:
        return ",".join(s.strip().upper() for s in v.split(",") if s.strip())

    @property
    def symbols(self) -> list[str] | None:
        return self.ingestion_symbols.split(",") if self.ingestion_symbols else None

    @property
    def intervals(self) -> list[str]:
        return self.ingestion_intervals.split(",")
