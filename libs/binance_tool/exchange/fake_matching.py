"""The book and account of `FakeSpotExchange`: orders, fills, balances and the user-data events they cause.

Events are built as Binance's JSON payloads and turned into port values by the same parser the adapter uses, so
the fake's events and the adapter's cannot drift apart.
"""

from __future__ import annotations

import itertools
import secrets
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from binance_tool.exchange import binance_parse as parse
from binance_tool.exchange.execution import (
    Balance,
    Fill,
    OrderOutcome,
    OrderRequest,
    OrderResult,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    TradeRecord,
    UserEvent,
)
from binance_tool.trading.filters import SymbolFilters

Money = Decimal | int | str
ZERO = Decimal(0)
COMMISSION_UNIT = Decimal("0.00000001")
QUOTES = ("USDT", "BUSD", "USDC", "FDUSD", "TUSD", "BTC", "ETH", "BNB", "EUR", "TRY")


def _s(d: Decimal) -> str:
    return format(d, "f")


@dataclass
class FakeOrder:
    symbol: str
    order_id: int
    client_order_id: str
    side: Side
    type: OrderType
    time_in_force: TimeInForce | None
    orig_qty: Decimal
    price: Decimal
    stop_price: Decimal
    time_ms: int
    update_time_ms: int
    status: OrderStatus = OrderStatus.NEW
    executed_qty: Decimal = ZERO
    quote_qty: Decimal = ZERO
    triggered: bool = False
    fills: list[Fill] = field(default_factory=list)

    @property
    def is_open(self) -> bool:
        return self.status.is_open

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    def state(self, with_fills: bool = False) -> OrderState:
        return OrderState(
            symbol=self.symbol,
            order_id=self.order_id,
            client_order_id=self.client_order_id,
            side=self.side,
            type=self.type,
            status=self.status,
            orig_qty=self.orig_qty,
            executed_qty=self.executed_qty,
            cummulative_quote_qty=self.quote_qty,
            price=self.price,
            stop_price=self.stop_price,
            time_ms=self.time_ms,
            update_time_ms=self.update_time_ms,
            fills=tuple(self.fills) if with_fills else (),
        )


@dataclass(frozen=True)
class Trade:
    symbol: str
    trade_id: int
    order_id: int
    price: Decimal
    qty: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int
    is_buyer: bool
    is_maker: bool

    def record(self) -> TradeRecord:
        return TradeRecord(
            symbol=self.symbol,
            trade_id=self.trade_id,
            order_id=self.order_id,
            price=self.price,
            quantity=self.qty,
            quote_quantity=self.price * self.qty,
            commission=self.commission,
            commission_asset=self.commission_asset,
            time_ms=self.time_ms,
            is_buyer=self.is_buyer,
        )


def _rejected(code: int, reason: str) -> OrderResult:
    return OrderResult(OrderOutcome.REJECTED, code=code, reason=reason)


def _would_trigger(side: Side, stop: Decimal, price: Decimal) -> bool:
    return price <= stop if side is Side.SELL else price >= stop


def _crosses(side: Side, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side is Side.BUY else price >= limit


class Book:
    def __init__(self, fee_rate: Decimal, clock: Callable[[], int]) -> None:
        self.fee_rate = fee_rate
        self.clock = clock
        self.filters: dict[str, SymbolFilters] = {}
        self.assets: dict[str, tuple[str, str]] = {}
        self.prices: dict[str, Decimal] = {}
        self.balances: dict[str, list[Decimal]] = {}  # asset -> [free, locked]
        self.orders: list[FakeOrder] = []
        self.trades: list[Trade] = []
        self.emit: Callable[[UserEvent], None] = lambda _event: None
        self._order_ids: Iterator[int] = itertools.count(1)
        self._trade_ids: Iterator[int] = itertools.count(1)
        self._changed: set[str] = set()

    # --- set-up -------------------------------------------------------------------------------------------------
    def add_symbol(self, filters: SymbolFilters, base: str = "", quote: str = "") -> None:
        base, quote = base or filters.base_asset, quote or filters.quote_asset
        if not (base and quote):
            quote = next((q for q in QUOTES if filters.symbol.endswith(q) and filters.symbol != q), "")
            base = filters.symbol[: -len(quote)] if quote else ""
        if not (base and quote):
            raise ValueError(f"{filters.symbol}: give base_asset and quote_asset")
        self.filters[filters.symbol] = filters
        self.assets[filters.symbol] = (base, quote)

    def balance(self, asset: str) -> Balance:
        free, locked = self.balances.get(asset, [ZERO, ZERO])
        return Balance(asset, free, locked)

    def _move(self, asset: str, free: Decimal = ZERO, locked: Decimal = ZERO) -> None:
        entry = self.balances.setdefault(asset, [ZERO, ZERO])
        entry[0] += free
        entry[1] += locked
        self._changed.add(asset)

    # --- events -------------------------------------------------------------------------------------------------
    def _report(self, o: FakeOrder, execution: str, **extra: Any) -> None:
        now = self.clock()
        raw: dict[str, Any] = {
            "e": "executionReport",
            "E": now,
            "s": o.symbol,
            "c": o.client_order_id,
            "S": o.side.value,
            "o": o.type.value,
            "f": (o.time_in_force or TimeInForce.GTC).value,
            "q": _s(o.orig_qty),
            "p": _s(o.price),
            "P": _s(o.stop_price),
            "F": "0",
            "g": -1,
            "C": "",
            "x": execution,
            "X": o.status.value,
            "r": "NONE",
            "i": o.order_id,
            "l": "0",
            "z": _s(o.executed_qty),
            "L": "0",
            "n": "0",
            "N": None,
            "T": now,
            "t": -1,
            "w": o.is_open,
            "m": False,
            "O": o.time_ms,
            "Z": _s(o.quote_qty),
            "Y": "0",
            "Q": "0",
        }
        raw.update(extra)
        self.emit(parse.execution_report(raw))

    def _flush_positions(self) -> None:
        if not self._changed:
            return
        now = self.clock()
        rows = [{"a": a, "f": _s(self.balance(a).free), "l": _s(self.balance(a).locked)} for a in sorted(self._changed)]
        self._changed.clear()
        self.emit(parse.account_position({"e": "outboundAccountPosition", "E": now, "u": now, "B": rows}))

    # --- orders -------------------------------------------------------------------------------------------------
    def latest(self, symbol: str, client_order_id: str) -> FakeOrder | None:
        found = [o for o in self.orders if o.symbol == symbol and o.client_order_id == client_order_id]
        return found[-1] if found else None

    def place(self, request: OrderRequest) -> OrderResult:
        symbol, side, qty = request.symbol, request.side, request.quantity
        base, quote = self.assets[symbol]
        market = self.prices.get(symbol)
        if any(o.is_open and o.client_order_id == request.client_order_id for o in self.orders):
            return _rejected(-2010, "Duplicate order sent.")
        stop = request.stop_price or ZERO
        if request.type is OrderType.STOP_LOSS_LIMIT and market is not None and _would_trigger(side, stop, market):
            return _rejected(-2010, "Order would trigger immediately.")
        if request.type is OrderType.MARKET:
            if market is not None and (problem := self._market_notional(symbol, qty * market)):
                return _rejected(-1013, problem)
            need = qty * (market or ZERO) if side is Side.BUY else qty
        else:
            assert request.price is not None
            need = qty * request.price if side is Side.BUY else qty
        if self.balance(quote if side is Side.BUY else base).free < need:
            return _rejected(-2010, "Account has insufficient balance for requested action.")
        now = self.clock()
        o = FakeOrder(
            symbol=symbol,
            order_id=next(self._order_ids),
            client_order_id=request.client_order_id,
            side=side,
            type=request.type,
            time_in_force=None if request.type is OrderType.MARKET else request.time_in_force or TimeInForce.GTC,
            orig_qty=qty,
            price=request.price or ZERO,
            stop_price=stop,
            time_ms=now,
            update_time_ms=now,
        )
        self.orders.append(o)
        if request.type is not OrderType.MARKET:
            self._move(quote if side is Side.BUY else base, -need, need)
        self._report(o, "NEW")
        if request.type is OrderType.MARKET:
            if market is None:  # an empty book: nothing to match
                self._end(o, OrderStatus.EXPIRED, "EXPIRED")
            else:
                self._fill(o, o.remaining, market, maker=False)
        elif request.type is OrderType.LIMIT:
            if market is not None and _crosses(side, o.price, market):
                self._fill(o, o.remaining, market, maker=False)
            elif o.time_in_force in (TimeInForce.IOC, TimeInForce.FOK):
                self._end(o, OrderStatus.EXPIRED, "EXPIRED")
        self._flush_positions()
        return OrderResult(OrderOutcome.ACCEPTED, order=o.state(with_fills=True))

    def _market_notional(self, symbol: str, notional: Decimal) -> str:
        f = self.filters[symbol]
        if f.min_notional_applies_to_market and notional < f.min_notional:
            return "Filter failure: NOTIONAL"
        if f.max_notional and f.max_notional_applies_to_market and notional > f.max_notional:
            return "Filter failure: NOTIONAL"
        return ""

    def _fill(self, o: FakeOrder, qty: Decimal, price: Decimal, maker: bool) -> None:
        base, quote = self.assets[o.symbol]
        amount = qty * price
        resting = o.type is not OrderType.MARKET
        if o.side is Side.BUY:
            if resting:  # release the lock at the limit price, keep the improvement
                self._move(quote, qty * o.price - amount, -qty * o.price)
            else:
                self._move(quote, -amount)
            commission, asset = (qty * self.fee_rate).quantize(COMMISSION_UNIT, ROUND_HALF_UP), base
            self._move(base, qty - commission)
        else:
            self._move(base, ZERO if resting else -qty, -qty if resting else ZERO)
            commission, asset = (amount * self.fee_rate).quantize(COMMISSION_UNIT, ROUND_HALF_UP), quote
            self._move(quote, amount - commission)
        now = self.clock()
        trade = Trade(
            o.symbol, next(self._trade_ids), o.order_id, price, qty, commission, asset, now, o.side is Side.BUY, maker
        )
        self.trades.append(trade)
        o.executed_qty += qty
        o.quote_qty += amount
        o.update_time_ms = now
        o.status = OrderStatus.FILLED if o.remaining == 0 else OrderStatus.PARTIALLY_FILLED
        o.fills.append(Fill(trade.trade_id, price, qty, commission, asset))
        extra = {"l": _s(qty), "L": _s(price), "n": _s(commission), "N": asset, "t": trade.trade_id, "m": maker}
        self._report(o, "TRADE", Y=_s(amount), **extra)

    def _end(self, o: FakeOrder, status: OrderStatus, execution: str, **extra: Any) -> None:
        """Cancel / expire an open order: unlock what its unfilled part still holds."""
        base, quote = self.assets[o.symbol]
        if o.type is not OrderType.MARKET:
            if o.side is Side.BUY:
                self._move(quote, o.remaining * o.price, -o.remaining * o.price)
            else:
                self._move(base, o.remaining, -o.remaining)
        o.status = status
        o.update_time_ms = self.clock()
        self._report(o, execution, **extra)

    def cancel(self, symbol: str, client_order_id: str) -> OrderResult:
        o = self.latest(symbol, client_order_id)
        if o is None or not o.is_open:
            return _rejected(-2011, "Unknown order sent.")
        self._end(o, OrderStatus.CANCELED, "CANCELED", c=secrets.token_hex(11), C=o.client_order_id)
        self._flush_positions()
        return OrderResult(OrderOutcome.ACCEPTED, order=o.state())

    # --- the market ---------------------------------------------------------------------------------------------
    def set_price(self, symbol: str, price: Decimal) -> None:
        if symbol not in self.filters:
            raise KeyError(f"unknown symbol {symbol}; add_symbol() first")
        if price <= 0:
            raise ValueError("price must be positive")
        self.prices[symbol] = price
        for o in [o for o in self.orders if o.symbol == symbol and o.is_open]:
            taker = False
            if o.type is OrderType.STOP_LOSS_LIMIT and not o.triggered:
                if not _would_trigger(o.side, o.stop_price, price):
                    continue
                o.triggered = taker = True
            if _crosses(o.side, o.price, price):
                self._fill(o, o.remaining, price if taker else o.price, maker=not taker)
        self._flush_positions()

    def fill_open(self, symbol: str, client_order_id: str, qty: Decimal, price: Decimal | None) -> None:
        o = self.latest(symbol, client_order_id)
        if o is None or not o.is_open:
            raise ValueError(f"no open order {client_order_id} on {symbol}")
        if not 0 < qty <= o.remaining:
            raise ValueError(f"fill quantity {qty} must be in (0, {o.remaining}]")
        self._fill(o, qty, o.price if price is None else price, maker=True)
        self._flush_positions()
