"""Events of execution: sizing decisions (position-sizer) and trade results (Trade Abstraction Service)."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from binance_tool.events.common import Market
from binance_tool.events.envelope import Envelope


class EntrySized(Envelope):
    """The position sizer's decision on one entry signal, with every input and the binding constraint (audit).
    correlation_id = the signal's event id."""

    EXCHANGE: ClassVar[str] = "bt.trading"
    ROUTING_KEY: ClassVar[str] = "sizing.{edge}.{market.symbol}"
    DESCRIPTION: ClassVar[str] = "A sizing decision for an entry signal: inputs, caps, binding constraint (sizer)."

    object_type: Literal["EntrySized"] = "EntrySized"
    version: Literal[1] = 1
    edge: str
    signal_event_id: uuid.UUID
    market: Market
    signal_price: Decimal
    limit_price: Decimal | None
    stop_price: Decimal | None
    accepted: bool
    quantity: Decimal
    binding: str
    refusal: str | None
    reason: str
    trading_mode: str
    portfolio_value: Decimal
    free_quote: Decimal
    reserved_quote: Decimal
    open_risk: Decimal
    open_positions: int = Field(ge=0)
    caps: dict[str, Decimal]
    rules: dict[str, str]


class OrderSummary(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    role: str  # entry, stop, exit, cancelled-stop, ...
    client_order_id: str
    order_id: int | None = None
    side: str
    type: str
    status: str
    orig_qty: Decimal
    executed_qty: Decimal = Decimal(0)
    price: Decimal | None = None
    stop_price: Decimal | None = None
    average_price: Decimal | None = None


class TradeResult(Envelope):
    """The result of one Trade Abstraction Service command (long, close, move-stop, protect, expire)."""

    EXCHANGE: ClassVar[str] = "bt.trading"
    ROUTING_KEY: ClassVar[str] = "tas.{action}.{status}.{market.symbol}"
    DESCRIPTION: ClassVar[str] = "Outcome of a Trade Abstraction Service command, with the orders involved (TAS)."

    object_type: Literal["TradeResult"] = "TradeResult"
    version: Literal[1] = 1
    action: str
    status: str
    http_status: int
    edge: str
    market: Market
    trade_id: str | None = None
    idempotency_key: str | None = None
    msg: str
    orders: tuple[OrderSummary, ...] = ()
    executed_qty: Decimal = Decimal(0)
    executed_quote: Decimal = Decimal(0)
