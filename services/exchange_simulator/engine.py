"""The simulated account's matching engine: order placement (filters, balance locks), cancel, queries, and matching
of resting orders against the replayed hourly candles as the simulated clock passes each hour boundary.

- Orders placed at simulated time t are matched against the hourly candles that OPEN at or after t, one candle at
  a time when it closes (boundary H matches the candle [H - 1h, H)); the rest of the hour in which t falls is
  skipped (the data has no intra-hour prices, so there is no look-ahead inside the hour).  Fills, triggers and the
  events they produce carry the time H.
- MARKET orders (and marketable LIMIT IOC/FOK) fill at once, in full, at the last price (the ticker price: the close
  of the last closed hourly candle).  A non-marketable IOC/FOK expires.
- Every order state change publishes an `executionReport`, every balance change an `outboundAccountPosition`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from binance_tool.trading.filters import OrderKind, SymbolFilters
from services.exchange_simulator import candles
from services.exchange_simulator.data import HOUR_MS, CandleStore
from services.exchange_simulator.exchange_info import ExchangeInfo
from services.exchange_simulator.ledger import InsufficientBalance, Ledger, fmt8, q8, q8_up
from services.exchange_simulator.matching import candle_path, fill_quantity, walk
from services.exchange_simulator.order_params import NewOrder
from services.exchange_simulator.orders import Order, Trade
from services.exchange_simulator.rest import BinanceError

Publish = Callable[[dict[str, Any]], None]
INSUFFICIENT = "Account has insufficient balance for requested action."


def insufficient() -> BinanceError:
    return BinanceError(-2010, INSUFFICIENT)


class TradingEngine:
    def __init__(
        self,
        store: CandleStore,
        exchange_info: ExchangeInfo,
        ledger: Ledger,
        fee_rate: Decimal,
        partial_ratio: Decimal,
        publish: Publish,
    ) -> None:
        self.store = store
        self.exchange_info = exchange_info
        self.ledger = ledger
        self.fee_rate = fee_rate
        self.partial_ratio = partial_ratio
        self.publish = publish
        self.orders: dict[str, list[Order]] = {}  # per symbol, in orderId order
        self.trades: dict[str, list[Trade]] = {}
        self.open: dict[str, dict[int, Order]] = {}
        self._filters: dict[str, SymbolFilters] = {}
        self._execution_ids = itertools.count(1)

    # -- symbols -------------------------------------------------------------------------------------------------
    def filters(self, symbol: str) -> SymbolFilters:
        found = self._filters.get(symbol)
        if found is None:
            found = self._filters[symbol] = SymbolFilters.from_symbol_entry(self.exchange_info.symbols[symbol])
        return found

    def assets(self, symbol: str) -> tuple[str, str]:
        f = self.filters(symbol)
        return f.base_asset, f.quote_asset

    def last_price(self, symbol: str, now: int) -> Decimal:
        """The ticker price; -1121 for a symbol that cannot be traded (no candle data, or not listed yet)."""
        if not self.store.has(symbol) or symbol not in self.exchange_info.symbols:
            raise BinanceError(-1121, "Invalid symbol.")
        price = candles.last_price(self.store.series(symbol, "1d"), self.store.series(symbol, "1h"), now)
        if price is None:
            raise BinanceError(-1121, "Invalid symbol.")
        return Decimal(price)

    def _filter_failure(self, symbol: str, problems: list[str]) -> None:
        if not problems:
            return
        first = problems[0]
        if "must be positive" in first:
            raise BinanceError(-1013, "Invalid quantity." if first.startswith("quantity") else "Invalid price.")
        name = first.split(":", 1)[0]
        types = {f["filterType"] for f in self.exchange_info.symbols[symbol].get("filters", [])}
        if name == "NOTIONAL" and "NOTIONAL" not in types and "MIN_NOTIONAL" in types:
            name = "MIN_NOTIONAL"
        raise BinanceError(-1013, f"Filter failure: {name}")

    def validate(self, req: NewOrder, now: int) -> tuple[Decimal, Decimal]:
        """Filters and trigger rules (what `order/test` checks too).  Returns (quantity, last price)."""
        last = self.last_price(req.symbol, now)
        f = self.filters(req.symbol)
        qty = req.quantity if req.quantity is not None else f.quantity_down((req.quote_order_qty or Decimal(0)) / last)
        if req.type == "MARKET":
            self._filter_failure(req.symbol, f.violations(qty, last, OrderKind.MARKET))
        else:
            assert req.price is not None
            self._filter_failure(req.symbol, f.violations(qty, req.price, OrderKind.LIMIT))
        if req.stop_price is not None:
            if req.stop_price <= 0:
                raise BinanceError(-1013, "Stop price is invalid.")
            self._filter_failure(req.symbol, f.price_violations(req.stop_price))
            if (req.side == "SELL" and last <= req.stop_price) or (req.side == "BUY" and last >= req.stop_price):
                raise BinanceError(-2010, "Order would trigger immediately.")
        return qty, last

    # -- placement -----------------------------------------------------------------------------------------------
    def place(self, req: NewOrder, now: int) -> tuple[Order, list[Trade]]:
        qty, last = self.validate(req, now)
        if any(o.client_order_id == req.client_order_id for book in self.open.values() for o in book.values()):
            raise BinanceError(-2010, "Duplicate order sent.")
        base, quote = self.assets(req.symbol)
        immediate = req.type == "MARKET" or (
            req.time_in_force in ("IOC", "FOK") and req.price is not None and _marketable(req.side, req.price, last)
        )
        if req.side == "BUY":
            need = q8(last * qty) if req.type == "MARKET" else q8_up((req.price or last) * qty)
            lock_asset = quote
        else:
            need, lock_asset = qty, base
        if self.ledger.free(lock_asset) < need:
            raise insufficient()
        book = self.orders.setdefault(req.symbol, [])
        order = Order(
            symbol=req.symbol,
            order_id=len(book) + 1,
            client_order_id=req.client_order_id,
            side=req.side,
            type=req.type,
            time_in_force=req.time_in_force or "GTC",
            orig_qty=qty,
            time=now,
            price=req.price or Decimal(0),
            stop_price=req.stop_price or Decimal(0),
            orig_quote_order_qty=req.quote_order_qty or Decimal(0),
            update_time=now,
            working_time=None if req.type == "STOP_LOSS_LIMIT" else now,
        )
        book.append(order)
        if req.type != "MARKET":
            self.store.series(req.symbol, "1h")  # load now, not inside the clock task
        self._report(order, now, "NEW")
        if immediate:
            trade = self._fill(order, last, qty, maker=False, now=now)
            return order, [trade]
        if req.time_in_force in ("IOC", "FOK"):
            order.status = "EXPIRED"
            self._report(order, now, "EXPIRED")
            return order, []
        self.ledger.lock(lock_asset, need)
        order.locked_asset, order.locked_remaining = lock_asset, need
        self.open.setdefault(req.symbol, {})[order.order_id] = order
        self._account(now, [lock_asset])
        return order, []

    # -- cancel / query ------------------------------------------------------------------------------------------
    def find(self, symbol: str, order_id: int | None, client_id: str | None) -> Order | None:
        book = self.orders.get(symbol, [])
        if order_id is not None:
            found = book[order_id - 1] if 1 <= order_id <= len(book) else None
            return found if found is not None and client_id in (None, found.client_order_id) else None
        matches = [o for o in book if o.client_order_id == client_id]
        open_ones = [o for o in matches if o.is_open]
        candidates = open_ones or matches
        return candidates[-1] if candidates else None

    def cancel(self, symbol: str, order_id: int | None, client_id: str | None, cancel_id: str, now: int) -> Order:
        order = self.find(symbol, order_id, client_id)
        if order is None or not order.is_open:
            raise BinanceError(-2011, "Unknown order sent.")
        self.open.get(symbol, {}).pop(order.order_id, None)
        order.status, order.update_time = "CANCELED", now
        if order.locked_remaining:
            self.ledger.unlock(order.locked_asset, order.locked_remaining)
            order.locked_remaining = Decimal(0)
        self._report(order, now, "CANCELED", cancel_client_id=cancel_id)
        self._account(now, [order.locked_asset])
        return order

    def open_orders(self, symbol: str | None) -> list[Order]:
        books = [self.open.get(symbol, {})] if symbol else list(self.open.values())
        return sorted((o for b in books for o in b.values()), key=lambda o: (o.time, o.symbol, o.order_id))

    def adjust_balance(self, asset: str, delta: Decimal, now: int) -> None:
        """A deposit (delta > 0) or withdrawal: `balanceUpdate` + `outboundAccountPosition`."""
        if delta < 0:
            try:
                self.ledger.debit(asset, -delta)
            except InsufficientBalance:
                raise insufficient() from None
        else:
            self.ledger.credit(asset, delta)
        self.publish({"e": "balanceUpdate", "E": now, "a": asset, "d": fmt8(delta), "T": now})
        self._account(now, [asset])

    # -- matching ------------------------------------------------------------------------------------------------
    def on_boundary(self, boundary: int) -> None:
        """The hourly candles closing at `boundary` are known: match the open orders placed by their open."""
        open_time = boundary - HOUR_MS
        for symbol, book in list(self.open.items()):
            hourly = self.store.series(symbol, "1h")
            i = candles.index_of(hourly, open_time)
            if i is None:
                continue
            ohlc = [Decimal(col[i].decode()) for col in (hourly.open, hourly.high, hourly.low, hourly.close)]
            path = candle_path(*ohlc)
            f = self.filters(symbol)
            for order in list(book.values()):
                if order.time > open_time:
                    continue
                stop = None if order.triggered else order.stop_price
                result = walk(path, order.side, order.price, stop, order.triggered)
                if result.triggered and not order.triggered:
                    order.working_time = order.update_time = boundary
                    self._report(order, boundary, "NEW")
                if result.fill_price is not None:
                    qty = fill_quantity(order.remaining, self.partial_ratio, f.step_size, f.min_qty)
                    self._fill(order, result.fill_price, qty, maker=result.maker, now=boundary)

    def _fill(self, order: Order, price: Decimal, qty: Decimal, *, maker: bool, now: int) -> Trade:
        base, quote = self.assets(order.symbol)
        quote_qty = q8(price * qty)
        final = qty >= order.remaining
        if order.side == "BUY":
            fee, fee_asset = q8(qty * self.fee_rate), base
            if order.locked_asset:
                release = order.locked_remaining if final else min(q8_up(order.price * qty), order.locked_remaining)
                self.ledger.take_locked(quote, release)
                self.ledger.credit(quote, release - quote_qty)
                order.locked_remaining -= release
            else:
                self.ledger.debit(quote, quote_qty)
            self.ledger.credit(base, qty - fee)
        else:
            fee, fee_asset = q8(quote_qty * self.fee_rate), quote
            if order.locked_asset:
                self.ledger.take_locked(base, qty)
                order.locked_remaining -= qty
            else:
                self.ledger.debit(base, qty)
            self.ledger.credit(quote, quote_qty - fee)
        trades = self.trades.setdefault(order.symbol, [])
        trade = Trade(
            order.symbol,
            len(trades) + 1,
            order.order_id,
            price,
            qty,
            quote_qty,
            fee,
            fee_asset,
            now,
            is_buyer=order.side == "BUY",
            is_maker=maker,
        )
        trades.append(trade)
        order.trades.append(trade)
        order.executed_qty += qty
        order.cum_quote += quote_qty
        order.status = "FILLED" if final else "PARTIALLY_FILLED"
        order.update_time = now
        if final:
            self.open.get(order.symbol, {}).pop(order.order_id, None)
        self._report(order, now, "TRADE", trade=trade)
        self._account(now, [base, quote])
        return trade

    # -- events --------------------------------------------------------------------------------------------------
    def _report(self, order: Order, now: int, execution_type: str, **extra: Any) -> None:
        eid = next(self._execution_ids)
        self.publish(order.execution_report(event_time=now, execution_type=execution_type, execution_id=eid, **extra))

    def _account(self, now: int, assets: list[str]) -> None:
        self.ledger.touch(now)
        changed = [a for a in dict.fromkeys(assets) if a]
        self.publish({"e": "outboundAccountPosition", "E": now, "u": now, "B": self.ledger.wire(changed)})


def _marketable(side: str, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side == "BUY" else price >= limit
