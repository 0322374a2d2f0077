from __future__ import annotations

from decimal import Decimal

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from binance_tool.config.settings import (
    COMMON,
    BusSettings,
    ExchangeSettings,
    ObservabilitySettings,
    RedisSettings,
)
from binance_tool.tracking.reconcile import ReconcileSettings


class CheckerSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    checker_interval_s: float = Field(default=900.0, gt=0, description="a check runs at start-up, then this often")
    checker_confirm_delay_s: float = Field(
        default=60.0, ge=0, le=3600, description="a mismatch is reported only if still there at a re-check this later"
    )
    checker_ignore_assets: str = Field(default="", description="comma list of assets never compared (e.g. BNB)")
    checker_tolerance_quote: Decimal = Field(
        default=Decimal("1"), ge=0, description="a balance difference worth less than this (quote asset) is ignored"
    )
    checker_quote_asset: str = Field(default="USDT", min_length=2, description="positions are of <base><quote>")
    checker_require_stop_for_manual: bool = Field(
        default=False, description="manual positions (no edge) also need an open stop"
    )
    checker_account: str = Field(
        default="default",
        pattern=r"^[A-Za-z0-9_-]{1,64}$",
        description="the account checked (letters, digits, _ and -: it is a routing-key word)",
    )
    checker_alert_after_failures: int = Field(
        default=3, ge=1, le=1000, description="consecutive failed checks before the user is told (once) they fail"
    )
    checker_remind_s: float = Field(
        default=14_400.0, gt=0, description="a mismatch still open is told to the user again after this long"
    )

    @field_validator("checker_quote_asset")
    @classmethod
    def _upper(cls, v: str) -> str:
        v = v.strip().upper()
        if not v.isalnum():
            raise ValueError("must be letters and digits, e.g. USDT")
        return v

    @field_validator("checker_ignore_assets")
    @classmethod
    def _assets(cls, v: str) -> str:
        items = [a.strip().upper() for a in v.split(",") if a.strip()]
        if bad := [a for a in items if not a.isalnum()]:
            raise ValueError(f"assets must be letters and digits; got {', '.join(bad)}")
        return ",".join(dict.fromkeys(items))

    @property
    def ignore_assets(self) -> frozenset[str]:
        return frozenset(a for a in self.checker_ignore_assets.split(",") if a)

    def reconcile_settings(self) -> ReconcileSettings:
        return ReconcileSettings(
            quote_asset=self.checker_quote_asset,
            ignore_assets=self.ignore_assets,
            tolerance_quote=self.checker_tolerance_quote,
            require_stop_for_manual=self.checker_require_stop_for_manual,
        )
