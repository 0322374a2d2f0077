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


class TrackersSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    trackers_quote_asset: str = Field(
        default="USDT", min_length=2, description="positions are of <base><quote> symbols; base = symbol − quote"
    )
    trackers_filters_refresh_s: float = Field(
        default=3600.0, gt=0, description="how often the exchange's symbol filters (minQty, minNotional) are reloaded"
    )
    trackers_update_attempts: int = Field(
        default=100, ge=1, le=10_000, description="optimistic Redis transaction attempts before a report is retried"
    )

    trackers_account: str = Field(
        default="default", pattern=r"^[A-Za-z0-9_.-]{1,64}$", description="the account whose portfolio is valued"
    )
    trackers_usd_asset: str = Field(
        default="USDC", min_length=2, description="USD stablecoin (1 USD) through which the quote is valued in USD"
    )
    trackers_usd_peg_fallback: bool = Field(
        default=True, description="no pair of the quote with the USD asset: take the quote as 1 USD (flagged 'peg')"
    )
    trackers_missing_fills_delay_s: float = Field(
        default=30.0, ge=0, description="a terminal order still missing fills this long after: read from myTrades"
    )
    trackers_prices_refresh_s: float = Field(
        default=60.0, gt=0, description="how often prices are read and the portfolio revalued"
    )

    @field_validator("trackers_quote_asset", "trackers_usd_asset")
    @classmethod
    def _upper(cls, v: str) -> str:
        return v.strip().upper()
