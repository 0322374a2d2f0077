"""`FakeSpotExchange`: an in-memory spot exchange behind SpotExecution + AccountData, for unit tests of the
services that trade.  It answers as `BinanceSpot` on Binance does (same outcomes, codes and messages; the same
checks before "sending", shared through `execution_support`) and passes the same contract tests.

The market moves only when a test says so: `set_price(symbol, price)` fills resting limit orders it crosses (at
their limit price, as maker), triggers stop-loss-limits (SELL at/below the stop, BUY at/above) and fills them when
the price allows (at the market price when triggered, as taker), and emits the execution reports and account
positions Binance would.  Marketable orders fill at once at the market price.  `fill()` makes partial fills.

Binance's rules kept: funds are locked when an order is placed (quote at the limit price for BUY, base for SELL)
and a buy's price improvement is released on fill; commission is `fee_rate` of what is received (base on a buy,
quote on a sell); a client order id must be unique among *open* orders (-2010 "Duplicate order sent."), and a query
by client order id answers the latest order with it; a stop that would trigger immediately is rejected (-2010); a
cancel reports the cancel's own client id as `c` and the order's as `C`; `all_orders`/`my_trades` without a start
id answer the latest 1000.

Test controls: `add_symbol`, `set_price`, `set_balance`, `fee_rate`, `set_time`/`advance`, `fill`,
`fail_next_with_unknown(placed=...)`, `rate_limit_next(retry_after_s)`, `ban(seconds)`, `unavailable_next()`,
`drop_user_stream()`/`restore_user_stream()`; `calls` records every port call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from binance_tool.exchange.binance_user_stream import StreamGapHandler
from binance_tool.exchange.execution import (
    AccountData,
    Balance,
    ExchangeUnavailable,
    OrderOutcome,
    OrderRequest,
    OrderResult,
    OrderState,
    SpotExecution,
    TradeRecord,
    UserEvent,
)
from binance_tool.exchange.execution_support import ExchangeRequestError, check_order, denied
from binance_tool.exchange.fake_matching import Book, Money
from binance_tool.trading.filters import SymbolFilters

PAGE = 1000


def _d(value: Money) -> Decimal:
    return value if isinstance(value, Decimal) else Decimal(str(value))


class FakeSpotExchange:
    def __init__(
        self,
        symbols: Iterable[SymbolFilters] = (),
        *,
        balances: Mapping[str, Money] | None = None,
        prices: Mapping[str, Money] | None = None,
        fee_rate: Money = Decimal("0.001"),
        now_ms: int | None = None,
        on_stream_gap: StreamGapHandler | None = None,
    ) -> None:
        self.book = Book(fee_rate=_d(fee_rate), clock=self._now_ms)
        self._time_ms = now_ms
        self._on_stream_gap = on_stream_gap
        self.calls: list[tuple[str, Any]] = []
        self.user_stream_subscriptions = 0
        self._subscribers: list[_Subscriber] = []
        self._stream_down = False
        self._closed = False
        self._unknown_next: list[bool] = []  # placed? for each coming order call
        self._rate_limited_next: list[float] = []
        self._unavailable_next = 0
        self._banned_until_ms = 0
        self.book.emit = self._publish
        for f in symbols:
            self.add_symbol(f)
        for asset, amount in (balances or {}).items():
            self.set_balance(asset, amount)
        for symbol, price in (prices or {}).items():
            self.set_price(symbol, price)

    # --- test controls ------------------------------------------------------------------------------------------
    @property
    def fee_rate(self) -> Decimal:
        return self.book.fee_rate

    @fee_rate.setter
    def fee_rate(self, value: Money) -> None:
        self.book.fee_rate = _d(value)

    def add_symbol(self, filters: SymbolFilters, base_asset: str = "", quote_asset: str = "") -> None:
        self.book.add_symbol(filters, base_asset, quote_asset)

    def set_balance(self, asset: str, free: Money, locked: Money = 0) -> None:
        self.book.balances[asset] = [_d(free), _d(locked)]

    def set_price(self, symbol: str, price: Money) -> None:
        """Move the market: resting orders it crosses fill, stops trigger; events are emitted."""
        self.book.set_price(symbol, _d(price))

    def fill(self, symbol: str, client_order_id: str, quantity: Money, price: Money | None = None) -> None:
        """Fill part (or the rest) of an open order, at `price` or its limit price (a partial fill)."""
        self.book.fill_open(symbol, client_order_id, _d(quantity), None if price is None else _d(price))

    def set_time(self, now_ms: int | None) -> None:
        """Freeze the exchange clock at `now_ms` (None: real time)."""
        self._time_ms = now_ms

    def advance(self, ms: int) -> None:
        self._time_ms = self._now_ms() + ms

    def fail_next_with_unknown(self, placed: bool = True) -> None:
        """The next order call (place or cancel) answers UNKNOWN, as after a timeout; it took effect iff `placed`."""
        self._unknown_next.append(placed)

    def rate_limit_next(self, retry_after_s: float = 1.0, calls: int = 1) -> None:
        """The next `calls` calls hit a 429 the adapter could not retry away: order calls REJECTED
        (`rate_limited`, `retry_after_s`), reads ExchangeUnavailable; nothing happens."""
        self._rate_limited_next += [retry_after_s] * calls

    def ban(self, seconds: float) -> None:
        """An IP ban (418) for `seconds` of the exchange clock: order calls DENIED, reads ExchangeUnavailable."""
        self._banned_until_ms = self._now_ms() + int(seconds * 1000)

    def unavailable_next(self, calls: int = 1) -> None:
        """The next `calls` reads raise ExchangeUnavailable (timeout / 5xx)."""
        self._unavailable_next += calls

    def drop_user_stream(self, restore: bool = True) -> None:
        """The user stream's connection drops: undelivered events are lost, and so is every event until it is
        restored (at once by default); subscribers then call `on_stream_gap` before their next event."""
        for sub in self._subscribers:
            sub.lose_pending()
        self._stream_down = True
        if restore:
            self.restore_user_stream()

    def restore_user_stream(self) -> None:
        self._stream_down = False
        for sub in self._subscribers:
            sub.gap = True
            sub.wake()

    @property
    def orders(self) -> list[OrderState]:
        return [o.state() for o in self.book.orders]

    # --- plumbing -----------------------------------------------------------------------------------------------
    def _now_ms(self) -> int:
        return self._time_ms if self._time_ms is not None else int(time.time() * 1000)

    def _publish(self, event: UserEvent) -> None:
        if self._stream_down:
            return
        for sub in self._subscribers:
            sub.queue.put_nowait(event)

    def _order_call_fault(self) -> OrderResult | None:
        if (left := self._banned_until_ms - self._now_ms()) > 0:
            return OrderResult(
                OrderOutcome.DENIED, reason="IP banned (418)", rate_limited=True, retry_after_s=left / 1000
            )
        if self._rate_limited_next:
            wait = self._rate_limited_next.pop(0)
            return OrderResult(
                OrderOutcome.REJECTED, code=-1003, reason="Too many requests.", rate_limited=True, retry_after_s=wait
            )
        return None

    def _read_fault(self, what: str) -> None:
        self.calls.append((what, None))
        if (left := self._banned_until_ms - self._now_ms()) > 0:
            raise ExchangeUnavailable(f"{what}: IP banned (418) for {left / 1000:.1f}s")
        if self._rate_limited_next:
            raise ExchangeUnavailable(f"{what}: rate limited; retry after {self._rate_limited_next.pop(0)}s")
        if self._unavailable_next:
            self._unavailable_next -= 1
            raise ExchangeUnavailable(f"{what}: timeout")

    def _symbol(self, symbol: str) -> None:
        if symbol not in self.book.filters:
            raise ExchangeRequestError(-1121, "Invalid symbol.", 400)

    # --- SpotExecution ------------------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderResult:
        self.calls.append(("place_order", request))
        if request.symbol not in self.book.filters:
            return denied("Invalid symbol.", -1121)
        if (problem := check_order(request, self.book.filters[request.symbol])) is not None:
            return problem
        if (fault := self._order_call_fault()) is not None:
            return fault
        if self._unknown_next:
            if self._unknown_next.pop(0):
                self.book.place(request)
            return OrderResult(OrderOutcome.UNKNOWN, reason="no answer: TimeoutError() (fake)")
        return self.book.place(request)

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult:
        self.calls.append(("cancel_order", (symbol, client_order_id)))
        if (fault := self._order_call_fault()) is not None:
            return fault
        if self._unknown_next:
            if self._unknown_next.pop(0):
                self.book.cancel(symbol, client_order_id)
            return OrderResult(OrderOutcome.UNKNOWN, reason="no answer: TimeoutError() (fake)")
        return self.book.cancel(symbol, client_order_id)

    async def get_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        self._read_fault("get_order")
        self._symbol(symbol)
        order = self.book.latest(symbol, client_order_id)
        return None if order is None else order.state()

    async def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        self._read_fault("open_orders")
        if symbol is not None:
            self._symbol(symbol)
        return [o.state() for o in self.book.orders if o.is_open and symbol in (None, o.symbol)]

    # --- AccountData --------------------------------------------------------------------------------------------
    async def balances(self) -> dict[str, Balance]:
        self._read_fault("balances")
        return {a: b for a in sorted(self.book.balances) if (b := self.book.balance(a)).total}

    async def server_time_ms(self) -> int:
        self._read_fault("server_time_ms")
        return self._now_ms()

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        self._read_fault("prices")
        if symbols is None:
            return dict(self.book.prices)
        if missing := [s for s in symbols if s not in self.book.prices]:
            raise ExchangeRequestError(-1121, f"Invalid symbol. ({', '.join(missing)})", 400)
        return {s: self.book.prices[s] for s in symbols}

    async def symbol_filters(self, symbols: Sequence[str] | None = None) -> dict[str, SymbolFilters]:
        self._read_fault("symbol_filters")
        return {s: f for s, f in self.book.filters.items() if symbols is None or s in symbols}

    async def all_orders(self, symbol: str, from_order_id: int | None = None) -> list[OrderState]:
        self._read_fault("all_orders")
        self._symbol(symbol)
        mine = [o.state() for o in self.book.orders if o.symbol == symbol]
        if from_order_id is None:
            return mine[-PAGE:]
        return [o for o in mine if o.order_id >= from_order_id]

    async def my_trades(self, symbol: str, from_trade_id: int | None = None) -> list[TradeRecord]:
        self._read_fault("my_trades")
        self._symbol(symbol)
        mine = [t.record() for t in self.book.trades if t.symbol == symbol]
        if from_trade_id is None:
            return mine[-PAGE:]
        return [t for t in mine if t.trade_id >= from_trade_id]

    def user_events(self) -> AsyncIterator[UserEvent]:
        """Subscribes at once (events from now on are delivered); ends when `close()` is called."""
        sub = _Subscriber(self)
        self._subscribers.append(sub)
        self.user_stream_subscriptions += 1
        return sub.iterate()

    async def close(self) -> None:
        self._closed = True
        for sub in self._subscribers:
            sub.wake()


class _Subscriber:
    def __init__(self, exchange: FakeSpotExchange) -> None:
        self.exchange = exchange
        self.queue: asyncio.Queue[UserEvent | None] = asyncio.Queue()
        self.gap = False

    def lose_pending(self) -> None:
        while not self.queue.empty():
            self.queue.get_nowait()

    def wake(self) -> None:
        self.queue.put_nowait(None)

    async def iterate(self) -> AsyncIterator[UserEvent]:
        try:
            while not self.exchange._closed:
                if self.gap:
                    self.gap = False
                    if self.exchange._on_stream_gap is not None:
                        await self.exchange._on_stream_gap()
                event = await self.queue.get()
                if event is not None:
                    yield event
        finally:
            if self in self.exchange._subscribers:
                self.exchange._subscribers.remove(self)


if TYPE_CHECKING:  # mypy checks that the fake implements both ports

    def _implements_the_ports(fake: FakeSpotExchange) -> tuple[SpotExecution, AccountData]:
        return fake, fake
