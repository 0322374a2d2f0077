"""The spot execution and account ports: what the Trade Abstraction Service, the position sizer and the trackers
need from an exchange.  Values only (Decimal money, UTC ms times); adapters translate to and from the exchange.

Every order call has one of four outcomes (`OrderOutcome`):
- ACCEPTED  the exchange took the request (an order, or a cancel) — `order` holds what it answered;
- REJECTED  the exchange refused it with an error code (`code`, `reason`), e.g. -2010 insufficient balance,
            -1013 filter failure, -2011 unknown order on cancel;
- DENIED    refused before sending (our own checks: filters, rate-limit ban in force, missing credentials);
- UNKNOWN   we cannot tell (timeout, connection lost, 5xx after sending): the caller must resolve it by querying
            the client order id (`SpotExecution.get_order`) — the order may exist.
Rate limiting (429 / 418 with Retry-After) is reported as REJECTED with `rate_limited=True` and `retry_after_s`
once the adapter's own retries are exhausted; nothing was placed in that case.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from binance_tool.trading.filters import SymbolFilters


class Side(StrEnum):
    BUY = "BUY"
    SELL = "SELL"


class OrderType(StrEnum):
    """Every spot order type Binance reports.  Our services place MARKET, LIMIT and STOP_LOSS_LIMIT
    (`PLACEABLE_ORDER_TYPES`); the others are read and tracked (orders placed by hand, OCO legs)."""

    MARKET = "MARKET"
    LIMIT = "LIMIT"
    STOP_LOSS_LIMIT = "STOP_LOSS_LIMIT"
    STOP_LOSS = "STOP_LOSS"
    LIMIT_MAKER = "LIMIT_MAKER"
    TAKE_PROFIT = "TAKE_PROFIT"
    TAKE_PROFIT_LIMIT = "TAKE_PROFIT_LIMIT"


PLACEABLE_ORDER_TYPES = frozenset({OrderType.MARKET, OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT})


class TimeInForce(StrEnum):
    GTC = "GTC"
    IOC = "IOC"
    FOK = "FOK"


class OrderStatus(StrEnum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    PENDING_CANCEL = "PENDING_CANCEL"
    REJECTED = "REJECTED"
    EXPIRED = "EXPIRED"
    EXPIRED_IN_MATCH = "EXPIRED_IN_MATCH"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED, OrderStatus.PENDING_CANCEL)


class OrderOutcome(StrEnum):
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    DENIED = "DENIED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True)
class OrderRequest:
    symbol: str
    side: Side
    type: OrderType
    quantity: Decimal
    client_order_id: str
    price: Decimal | None = None  # LIMIT and STOP_LOSS_LIMIT
    stop_price: Decimal | None = None  # STOP_LOSS_LIMIT trigger
    time_in_force: TimeInForce | None = None  # LIMIT and STOP_LOSS_LIMIT (GTC by default in adapters)


@dataclass(frozen=True)
class Fill:
    trade_id: int
    price: Decimal
    quantity: Decimal
    commission: Decimal
    commission_asset: str


@dataclass(frozen=True)
class OrderState:
    """An order as the exchange reports it."""

    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    type: OrderType
    status: OrderStatus
    orig_qty: Decimal
    executed_qty: Decimal
    cummulative_quote_qty: Decimal  # Binance's spelling
    price: Decimal = Decimal(0)
    stop_price: Decimal = Decimal(0)
    time_ms: int = 0
    update_time_ms: int = 0
    fills: tuple[Fill, ...] = ()

    @property
    def average_price(self) -> Decimal | None:
        return self.cummulative_quote_qty / self.executed_qty if self.executed_qty else None


@dataclass(frozen=True)
class OrderResult:
    outcome: OrderOutcome
    order: OrderState | None = None
    code: int | None = None  # the exchange's error code when REJECTED
    reason: str = ""
    rate_limited: bool = False
    retry_after_s: float | None = None


@dataclass(frozen=True)
class Balance:
    asset: str
    free: Decimal
    locked: Decimal

    @property
    def total(self) -> Decimal:
        return self.free + self.locked


@dataclass(frozen=True)
class TradeRecord:
    """One fill of the account (`myTrades`)."""

    symbol: str
    trade_id: int
    order_id: int
    price: Decimal
    quantity: Decimal
    quote_quantity: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_buyer: bool


@dataclass(frozen=True)
class ExecutionReport:
    """An `executionReport` of the user data stream (the fields the trackers need)."""

    symbol: str
    client_order_id: str
    original_client_order_id: str  # set on cancels ("C" in Binance's payload)
    side: Side
    type: OrderType
    execution_type: str  # NEW, CANCELED, REPLACED, REJECTED, TRADE, EXPIRED
    status: OrderStatus
    order_id: int
    orig_qty: Decimal
    price: Decimal
    stop_price: Decimal
    last_qty: Decimal
    last_price: Decimal
    cumulative_qty: Decimal
    cumulative_quote_qty: Decimal
    commission: Decimal
    commission_asset: str | None
    trade_id: int  # -1 when not a trade
    event_time_ms: int
    transaction_time_ms: int
    raw: dict[str, object] = field(default_factory=dict, compare=False)


@dataclass(frozen=True)
class AccountPosition:
    """An `outboundAccountPosition` event: the balances that changed."""

    event_time_ms: int
    update_time_ms: int
    balances: tuple[Balance, ...]


UserEvent = ExecutionReport | AccountPosition


class ExchangeUnavailable(Exception):
    """A read could not be answered (timeout, connection, 5xx, rate-limit ban); nothing was changed."""


class SpotExecution(Protocol):
    async def place_order(self, request: OrderRequest) -> OrderResult: ...

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult: ...

    async def get_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        """None when the exchange does not know the id (-2013); raises ExchangeUnavailable."""
        ...

    async def open_orders(self, symbol: str | None = None) -> list[OrderState]: ...


class AccountData(Protocol):
    async def balances(self) -> dict[str, Balance]: ...

    async def server_time_ms(self) -> int:
        """The exchange's clock (UTC ms): deadlines of orders are measured on it, not on ours."""
        ...

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        """Last price per symbol (`ticker/price`)."""
        ...

    async def symbol_filters(self, symbols: Sequence[str] | None = None) -> dict[str, SymbolFilters]: ...

    async def all_orders(self, symbol: str, from_order_id: int | None = None) -> list[OrderState]: ...

    async def my_trades(self, symbol: str, from_trade_id: int | None = None) -> list[TradeRecord]: ...

    def user_events(self) -> AsyncIterator[UserEvent]:
        """The account's user data stream (WebSocket API subscription), reconnecting; ends when closed."""
        ...


_CLIENT_ID = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")


def client_order_id(edge: str, signal_id: str, leg: str) -> str:
    """A pure function of (edge, signal, leg): a retry or replay sends the same id, and the exchange rejects a
    duplicate while the first is open (-2010 "Duplicate order sent."), so nothing is placed twice.
    Format: `<edge>-<leg>-<22 hex chars of sha256>`, within Binance's `^[a-zA-Z0-9-_]{1,36}$`."""
    digest = hashlib.sha256(f"{edge}\x1f{signal_id}\x1f{leg}".encode()).hexdigest()[:22]
    text = f"{edge[:6]}-{leg[:5]}-{digest}"
    if not _CLIENT_ID.match(text):
        raise ValueError(f"edge {edge!r} and leg {leg!r} must be letters, digits, '-' or '_'")
    return text
