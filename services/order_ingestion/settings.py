from __future__ import annotations

import os
import socket

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from binance_tool.config.settings import COMMON, BusSettings, ExchangeSettings, ObservabilitySettings, RedisSettings


class OrderIngestionSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    order_ingestion_symbols: str = Field(
        default="", description="comma list of the symbols whose orders and trades are back-filled (required)"
    )
    order_ingestion_account: str = Field(default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    order_ingestion_exchange_name: str = Field(default="binance", pattern=r"^[A-Za-z0-9_.-]{1,32}$")
    order_ingestion_subscribe_wait_s: float = Field(default=10.0, ge=0, le=300)
    order_ingestion_replica_id: str = Field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    @field_validator("order_ingestion_symbols")
    @classmethod
    def _symbols(cls, v: str) -> str:
        items = [s.strip().upper() for s in v.split(",") if s.strip()]
        if not items:
            raise ValueError("a non-empty comma list of symbols is required, e.g. BTCUSDT,ETHUSDT")
        bad = [s for s in items if not s.isalnum()]
        if bad:
            raise ValueError(f"symbols must be letters and digits; got {', '.join(bad)}")
        return ",".join(dict.fromkeys(items))

    @property
    def symbols(self) -> list[str]:
        return self.order_ingestion_symbols.split(",")
