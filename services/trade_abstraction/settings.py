"""Settings of the Trade Abstraction Service (env / `.env`).  A missing or weak token list fails start-up: the TAS
never trades anonymously."""

from __future__ import annotations

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import SettingsConfigDict

from binance_tool.config.settings import (
    COMMON,
    BusSettings,
    ExchangeSettings,
    ObservabilitySettings,
    RedisSettings,
)

ROLES = ("sizer", "operator")


class TasSettings(BusSettings, RedisSettings, ExchangeSettings, ObservabilitySettings):
    model_config = SettingsConfigDict(**COMMON)

    tas_host: str = "127.0.0.1"
    tas_port: int = Field(default=9500, ge=0, le=65535)
    tas_tokens: SecretStr = Field(
        default=SecretStr(""), description="comma list role=token (roles: sizer, operator); tokens ≥ 16 characters"
    )
    tas_quote_asset: str = "USDT"
    tas_entry_timeout_s: float = Field(default=86_400.0, gt=0, description="an entry's unfilled part is cancelled then")
    tas_sweep_interval_s: float = Field(
        default=30.0, gt=0, description="how often every active trade is re-checked (the user stream drives the rest)"
    )

    @field_validator("tas_tokens")
    @classmethod
    def _tokens(cls, v: SecretStr) -> SecretStr:
        parse_tokens(v.get_secret_value())
        return v

    @property
    def tokens(self) -> dict[str, tuple[str, str]]:
        """token → (principal name, role)."""
        return parse_tokens(self.tas_tokens.get_secret_value())


def parse_tokens(text: str) -> dict[str, tuple[str, str]]:
    out: dict[str, tuple[str, str]] = {}
    for item in (p.strip() for p in text.split(",") if p.strip()):
        role, sep, token = item.partition("=")
        role, token = role.strip(), token.strip()
        if not sep or role not in ROLES:
            raise ValueError(f"each entry must be role=token with role in {', '.join(ROLES)}")
        if len(token) < 16:
            raise ValueError(f"the {role} token must be at least 16 characters")
        out[token] = (role, role)
    if not out:
        raise ValueError("at least one token is required (no anonymous trading), e.g. sizer=<token>")
    return out
