"""Settings of the position sizer (env / `.env`); the sizing rules themselves are settings with the defaults of
`../shared/docs/edge70-and-trading-rules.md`.  Nothing here can be set per request: callers cannot size."""

from __future__ import annotations

from decimal import Decimal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from binance_tool.config.settings import (
    COMMON,
    BusSettings,
    ExchangeSettings,
    ObservabilitySettings,
    RedisSettings,
)
from binance_tool.trading import RiskBasis, SizingRules


class SizerSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    tas_url: str = Field(default="http://127.0.0.1:9500", description="Trade Abstraction Service base URL")
    tas_token: SecretStr | None = Field(default=None, description="bearer token of the TAS 'sizer' role")
    tas_timeout_s: float = Field(default=45.0, gt=0, description="above the adapter's longest rate-limit wait (30 s)")
    sizer_quote_asset: str = "USDT"
    sizer_risk_per_trade: Decimal = Field(default=Decimal("0.01"), gt=0, le=1)
    sizer_max_position_pct: Decimal = Field(default=Decimal("0.20"), gt=0, le=1)
    sizer_max_open_portfolio_risk: Decimal = Field(default=Decimal("0.10"), gt=0, le=1)
    sizer_max_open_positions: int = Field(default=10, ge=1, le=1000)
    sizer_open_risk_basis: RiskBasis = RiskBasis.ENTRY
    sizer_fee_reserve_rate: Decimal = Field(default=Decimal("0.001"), ge=0, lt=1)
    sizer_account_resync_s: float = Field(default=30.0, gt=0, description="balances re-read over REST this often")
    sizer_prices_refresh_s: float = Field(default=5.0, gt=0, description="all prices re-read this often")
    sizer_positions_refresh_s: float = Field(default=5.0, gt=0, description="the TAS's trades re-read this often")

    @field_validator("tas_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @property
    def rules(self) -> SizingRules:
        return SizingRules(
            risk_per_trade=self.sizer_risk_per_trade,
            max_position_pct=self.sizer_max_position_pct,
            max_open_portfolio_risk=self.sizer_max_open_portfolio_risk,
            max_open_positions=self.sizer_max_open_positions,
            open_risk_basis=self.sizer_open_risk_basis,
            fee_reserve_rate=self.sizer_fee_reserve_rate,
        )
