"""Settings of the exchange simulator (env / `.env`, no prefix).  Load them with `load_settings(SimulatorSettings)`:
a bad value makes the service refuse to start with a message naming the variable."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode

from binance_tool.config.settings import COMMON

# Development credentials of the simulated account: not secrets, documented so the local demo works out of the box.
DEV_API_KEY = "SimulatorDevApiKey0000000000000000000000000000000000000000000000"
DEV_API_SECRET = "SimulatorDevApiSecret0000000000000000000000000000000000000000000"
API_KEY_RE = re.compile(r"^[A-Za-z0-9]{1,64}$")
ASSET_RE = re.compile(r"^[A-Z0-9]{1,20}$")


def parse_balances(value: object) -> dict[str, Decimal]:
    """`USDT=10000,BTC=0.5` -> {"USDT": Decimal("10000"), "BTC": Decimal("0.5")} (amounts >= 0)."""
    if isinstance(value, dict):
        items = [(str(k), str(v)) for k, v in value.items()]
    else:
        items = []
        for part in str(value).split(","):
            if part.strip():
                asset, sep, amount = part.partition("=")
                if not sep:
                    raise ValueError(f"expected ASSET=amount, got {part.strip()!r}")
                items.append((asset, amount))
    out: dict[str, Decimal] = {}
    for asset, amount in items:
        name = asset.strip().upper()
        if not ASSET_RE.match(name):
            raise ValueError(f"bad asset name {asset.strip()!r}")
        try:
            parsed = Decimal(amount.strip())
        except InvalidOperation:
            raise ValueError(f"{name}: {amount.strip()!r} is not a decimal") from None
        if not parsed.is_finite() or parsed < 0:
            raise ValueError(f"{name}: amount must be >= 0")
        out[name] = parsed
    return out


def parse_time_ms(value: object) -> int:
    """An ISO date / datetime (UTC unless it carries an offset) or epoch milliseconds -> epoch milliseconds."""
    if isinstance(value, bool):
        raise ValueError("expected an ISO date or epoch milliseconds")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"expected an ISO date (2019-01-01) or epoch milliseconds, got {text!r}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


class SimulatorSettings(BaseSettings):
    model_config = COMMON

    sim_host: str = "127.0.0.1"
    sim_port: int = Field(default=9400, ge=0, le=65535, description="0 = any free port")
    sim_data_dir: Path = Field(
        default=Path("../shared/data/binance-spot"), description="1d/<SYMBOL>.csv, 1h/<SYMBOL>.csv.gz, exchange info"
    )
    sim_symbols: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="comma list; empty = every symbol with data"
    )
    sim_start: int = Field(default=parse_time_ms("2019-01-01"), description="ISO date or epoch ms")
    sim_speed: float = Field(default=86_400.0, ge=0, description="simulated seconds per real second; 0 = paused")
    sim_end: int | None = Field(default=None, description="optional: the clock stops there")
    sim_exchange_info_all: bool = False
    sim_request_weight_limit: int = Field(
        default=6000,
        ge=1,
        description="REQUEST_WEIGHT per minute published in exchangeInfo.rateLimits (Binance's today; the snapshot "
        "of 2022 says 1200)",
    )
    sim_preload_hourly: bool = Field(default=True, description="load every hourly file in the background at start")
    sim_ws_queue_size: int = Field(default=10_000, ge=1, description="messages buffered per websocket connection")
    sim_fault_ws_drop_every: int = Field(default=0, ge=0)
    sim_fault_delay_ms: int = Field(default=0, ge=0)
    sim_fault_http_429_every: int = Field(default=0, ge=0)
    sim_fault_retry_after_s: int = Field(default=1, ge=0)
    # -- trading (signed endpoints, matching, user data stream) ----------------------------------------------------
    sim_api_key: str = Field(default=DEV_API_KEY, description="the simulated account's API key (X-MBX-APIKEY)")
    sim_api_secret: str = Field(default=DEV_API_SECRET, min_length=1, description="HMAC-SHA256 secret")
    sim_balances: Annotated[dict[str, Decimal], NoDecode] = Field(
        default_factory=lambda: {"USDT": Decimal(10_000)}, description="starting balances, e.g. USDT=10000,BTC=0.5"
    )
    sim_fee_rate: Decimal = Field(default=Decimal("0.001"), ge=0, lt=1, description="commission per fill")
    sim_partial_fill_ratio: Decimal = Field(
        default=Decimal(1), gt=0, le=1, description="share of the remaining quantity filled per crossing candle"
    )
    sim_fault_order_429_next: int = Field(default=0, ge=0)
    sim_fault_order_ban_s: int = Field(default=120, ge=0)
    sim_fault_reply_lost_next: int = Field(default=0, ge=0)
    sim_fault_reply_lost_mode: Literal["hold", "close"] = "hold"
    sim_fault_reply_lost_hold_s: float = Field(default=30.0, ge=0)
    sim_fault_user_stream_drop_every: int = Field(default=0, ge=0)

    @field_validator("sim_api_key")
    @classmethod
    def _api_key_format(cls, v: str) -> str:
        if not API_KEY_RE.match(v):
            raise ValueError("must be 1-64 letters or digits (Binance's API-key format)")
        return v

    @field_validator("sim_balances", mode="before")
    @classmethod
    def _parse_balances(cls, v: object) -> dict[str, Decimal]:
        return parse_balances(v)

    @field_validator("sim_data_dir")
    @classmethod
    def _data_dir_exists(cls, v: Path) -> Path:
        resolved = v.expanduser().resolve()
        if not (resolved / "1d").is_dir():
            raise ValueError(f"{resolved} has no 1d/ directory of daily candles")
        return resolved

    @field_validator("sim_symbols", mode="before")
    @classmethod
    def _split_symbols(cls, v: object) -> object:
        if isinstance(v, str):
            return [s.strip().upper() for s in v.split(",") if s.strip()]
        return v

    @field_validator("sim_symbols")
    @classmethod
    def _symbols_have_data(cls, v: list[str], info: ValidationInfo) -> list[str]:
        data_dir = info.data.get("sim_data_dir")
        if data_dir is None:
            return v
        missing = [s for s in v if not (data_dir / "1d" / f"{s}.csv").is_file()]
        if missing:
            raise ValueError(f"no candle data for {', '.join(missing)} in {data_dir}")
        return v

    @field_validator("sim_start", mode="before")
    @classmethod
    def _parse_start(cls, v: object) -> int:
        return parse_time_ms(v)

    @field_validator("sim_end", mode="before")
    @classmethod
    def _parse_end(cls, v: object) -> int | None:
        if v is None or (isinstance(v, str) and not v.strip()):
            return None
        return parse_time_ms(v)

    @field_validator("sim_end")
    @classmethod
    def _end_after_start(cls, v: int | None, info: ValidationInfo) -> int | None:
        start = info.data.get("sim_start")
        if v is not None and start is not None and v <= start:
            raise ValueError("must be after SIM_START")
        return v
