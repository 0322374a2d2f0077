"""HTTP request and response models of the Trade Abstraction Service (separate input and output schemas).

Every command answers a `TradeResponse` whose `status` is explicit and maps to one HTTP status (`HTTP_STATUS`).
"""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field, field_validator

from binance_tool.events import OrderSummary

_SYMBOL = re.compile(r"^[A-Z0-9]{2,20}$")
_EDGE = re.compile(r"^[a-z0-9_-]{1,20}$")
_ID = re.compile(r"^[A-Za-z0-9._:-]{1,100}$")


class TradeStatus(StrEnum):
    ENTERED = "ENTERED"  # entry order accepted (filled, partly filled or working); fills are protected
    ALREADY_IN_POSITION = "ALREADY_IN_POSITION"
    TOO_SMALL_TO_TRADE = "TOO_SMALL_TO_TRADE"
    INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
    REJECTED_BY_EXCHANGE = "REJECTED_BY_EXCHANGE"
    CLOSED = "CLOSED"
    STOP_MOVED = "STOP_MOVED"
    STOP_ABOVE_MARKET = "STOP_ABOVE_MARKET"
    NOT_FOUND = "NOT_FOUND"
    BAD_REQUEST = "BAD_REQUEST"  # the request does not validate: `msg` says which field and why
    NOT_SUPPORTED = "NOT_SUPPORTED"
    UNKNOWN_EDGE = "UNKNOWN_EDGE"
    UNKNOWN_SYMBOL = "UNKNOWN_SYMBOL"
    IN_PROGRESS = "IN_PROGRESS"  # the same Idempotency-Key is being executed right now
    RATE_LIMITED = "RATE_LIMITED"
    UNKNOWN_OUTCOME = "UNKNOWN_OUTCOME"  # sent, outcome not known yet: being reconciled; retry with the same key
    EXCHANGE_UNAVAILABLE = "EXCHANGE_UNAVAILABLE"
    PROTECTION_FAILED = "PROTECTION_FAILED"  # the stop could not be placed: the filled quantity was sold again


HTTP_STATUS: dict[TradeStatus, int] = {
    TradeStatus.ENTERED: 201,
    TradeStatus.CLOSED: 200,
    TradeStatus.STOP_MOVED: 200,
    TradeStatus.UNKNOWN_OUTCOME: 202,
    TradeStatus.BAD_REQUEST: 400,
    TradeStatus.NOT_SUPPORTED: 400,
    TradeStatus.UNKNOWN_EDGE: 400,
    TradeStatus.UNKNOWN_SYMBOL: 400,
    TradeStatus.NOT_FOUND: 404,
    TradeStatus.ALREADY_IN_POSITION: 409,
    TradeStatus.IN_PROGRESS: 409,
    TradeStatus.TOO_SMALL_TO_TRADE: 422,
    TradeStatus.INSUFFICIENT_BALANCE: 422,
    TradeStatus.REJECTED_BY_EXCHANGE: 422,
    TradeStatus.STOP_ABOVE_MARKET: 422,
    TradeStatus.RATE_LIMITED: 429,
    TradeStatus.PROTECTION_FAILED: 502,
    TradeStatus.EXCHANGE_UNAVAILABLE: 503,
}


class _Request(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    edge: str = Field(description="edge id, e.g. edge70", examples=["edge70"])
    symbol: str = Field(description="spot market, e.g. BTCUSDT", examples=["BTCUSDT"])

    @field_validator("edge")
    @classmethod
    def _edge(cls, v: str) -> str:
        if not _EDGE.match(v):
            raise ValueError("edge must be 1-20 lowercase letters, digits, '-' or '_'")
        return v

    @field_validator("symbol")
    @classmethod
    def _symbol(cls, v: str) -> str:
        v = v.upper()
        if not _SYMBOL.match(v):
            raise ValueError("symbol must be 2-20 letters or digits, e.g. BTCUSDT")
        return v


def _positive(v: Decimal, name: str) -> Decimal:
    if not v.is_finite() or v <= 0:
        raise ValueError(f"{name} must be a positive number")
    if v.as_tuple().exponent < -8:  # type: ignore[operator]
        raise ValueError(f"{name} has more than 8 decimals")
    if v >= Decimal("1e15"):
        raise ValueError(f"{name} is too large")
    return v


class LongRequest(_Request):
    """Open a long spot position. Only the position sizer may call this: the quantity is its decision."""

    signal_id: str = Field(description="the signal's id; makes the entry's client order id", examples=["c0ffee"])
    signal_price: Decimal = Field(gt=0, description="the signal's close price; the buy limit is derived from it")
    quantity: Decimal = Field(
        gt=0, description="base quantity decided by the position sizer (rounded down to LOT_SIZE)"
    )

    @field_validator("signal_id")
    @classmethod
    def _sid(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError("signal_id must be 1-100 of letters, digits, '.', '_', ':' or '-'")
        return v

    @field_validator("signal_price")
    @classmethod
    def _price(cls, v: Decimal) -> Decimal:
        return _positive(v, "signal_price")

    @field_validator("quantity")
    @classmethod
    def _qty(cls, v: Decimal) -> Decimal:
        return _positive(v, "quantity")


class CloseRequest(_Request):
    """Close a position: cancel its stop (and any working entry), sell everything at market."""


class ShortRequest(_Request):
    """Short is not possible on spot."""


class MoveStopRequest(_Request):
    new_stop_price: Decimal = Field(gt=0, description="new stop trigger; must be below the current price")

    @field_validator("new_stop_price")
    @classmethod
    def _stop(cls, v: Decimal) -> Decimal:
        return _positive(v, "new_stop_price")


class TradeResponse(BaseModel):
    status: TradeStatus
    http_status: int
    msg: str
    edge: str
    symbol: str
    trade_id: str | None = None
    orders: list[OrderSummary] = []
    executed_qty: Decimal = Decimal(0)
    executed_quote: Decimal = Decimal(0)
    retry_after_s: float | None = None


class PositionView(BaseModel):
    trade_id: str
    edge: str
    symbol: str
    state: str
    entry_client_order_id: str
    entry_status: str
    quantity: Decimal  # held: filled and not yet sold
    entry_limit: Decimal
    entry_pending_qty: Decimal  # still working on the entry order
    average_entry_price: Decimal | None
    stop_price: Decimal | None
    stop_quantity: Decimal
    opened_at_ms: int
