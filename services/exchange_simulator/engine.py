"""The simulated account's matching engine: order placement (filters, balance locks), cancel, queries, and matching
of resting orders against the replayed hourly candles as the simulated clock passes each hour boundary.

- Orders placed at simulated time t are matched against the hourly candles that OPEN at or after t, one candle at
  a time when it closes (boundary H matches the candle [H - 1h, H)); the rest of the hour in which t falls is
  skipped (the data has no intra-hour prices, so there is no look-ahead inside the hour).  Fills, triggers and the
  events they produce carry the time H.
- MARKET orders (and marketable LIMIT IOC/FOK) fill at once, in full, at the last price (the ticker price: the close
  of the last closed hourly candle).  A non-marketable IOC/FOK expires.
- OCO order lists: two legs sharing one balance lock; the first leg to act (a fill of the LIMIT_MAKER, even partial,
  or the trigger of the STOP_LOSS_LIMIT, whichever comes first along the candle's path) expires the other; a cancel
  of either leg cancels the list.  Every list change publishes a `listStatus`.
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
from services.exchange_simulator.matching import candle_path, fill_quantity, first_touch, walk
from services.exchange_simulator.order_params import NewOco, NewOrder, OcoLeg
from services.exchange_simulator.orders import Order, OrderList, Trade
from services.exchange_simulator.rest import BinanceError

Publish = Callable[[dict[str, Any]], None]
INSUFFICIENT = "Account has insufficient balance for requested action."
WOULD_TRIGGER = "Order would trigger immediately."
WOULD_TAKE = "Order would immediately match and take."
BAD_PRICES = "The relationship of the prices for the orders is not correct."


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
        self.order_lists: list[OrderList] = []  # orderListId - 1 (ids count from 1 across symbols)
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
                raise BinanceError(-2010, WOULD_TRIGGER)
        if req.type == "LIMIT_MAKER" and req.price is not None and _marketable(req.side, req.price, last):
            raise BinanceError(-2010, WOULD_TAKE)
        return qty, last

    # -- placement -----------------------------------------------------------------------------------------------
    def place(self, req: NewOrder, now: int) -> tuple[Order, list[Trade]]:
        qty, last = self.validate(req, now)
        self._check_duplicate(req.client_order_id)
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

    def _check_duplicate(self, *client_ids: str) -> None:
        if len(set(client_ids)) < len(client_ids) or any(
            o.client_order_id in client_ids for book in self.open.values() for o in book.values()
        ):
            raise BinanceError(-2010, "Duplicate order sent.")

    # -- OCO -----------------------------------------------------------------------------------------------------
    def validate_oco(self, req: NewOco, now: int) -> Decimal:
        """Filters of both legs, then the price rules: the take-profit price beyond the stop price (SELL: above it,
        BUY: below it), the stop not already crossed by the last price, the LIMIT_MAKER not marketable."""
        last = self.last_price(req.symbol, now)
        f = self.filters(req.symbol)
        for leg in (req.above, req.below):
            self._filter_failure(req.symbol, f.violations(req.quantity, leg.price, OrderKind.LIMIT))
            if leg.stop_price is not None:
                if leg.stop_price <= 0:
                    raise BinanceError(-1013, "Stop price is invalid.")
                self._filter_failure(req.symbol, f.price_violations(leg.stop_price))
        tp, sl = req.take_profit, req.stop_loss
        assert sl.stop_price is not None
        sell = req.side == "SELL"
        if (sell and tp.price <= sl.stop_price) or (not sell and tp.price >= sl.stop_price):
            raise BinanceError(-2010, BAD_PRICES)
        if (sell and last <= sl.stop_price) or (not sell and last >= sl.stop_price):
            raise BinanceError(-2010, WOULD_TRIGGER)
        if _marketable(req.side, tp.price, last):
            raise BinanceError(-2010, WOULD_TAKE)
        return last

    def place_oco(self, req: NewOco, now: int) -> OrderList:
        self.validate_oco(req, now)
        if any(lst.is_open and lst.list_client_order_id == req.list_client_order_id for lst in self.order_lists):
            raise BinanceError(-2010, "Duplicate order sent.")
        self._check_duplicate(req.above.client_order_id, req.below.client_order_id)
        base, quote = self.assets(req.symbol)
        if req.side == "BUY":  # one lock, enough for the dearer leg
            need, lock_asset = q8_up(max(req.above.price, req.below.price) * req.quantity), quote
        else:
            need, lock_asset = req.quantity, base
        if self.ledger.free(lock_asset) < need:
            raise insufficient()
        self.store.series(req.symbol, "1h")
        book = self.orders.setdefault(req.symbol, [])
        list_id = len(self.order_lists) + 1
        legs: list[Order] = []
        for leg in (req.stop_loss, req.take_profit):  # the stop leg takes the lower orderId, as on Binance
            order = self._leg_order(req, leg, len(book) + 1, list_id, now)
            order.locked_asset, order.locked_remaining = lock_asset, need
            book.append(order)
            legs.append(order)
        order_list = OrderList(req.symbol, list_id, req.list_client_order_id, legs, now)
        self.order_lists.append(order_list)
        self.ledger.lock(lock_asset, need)
        for order in legs:
            self.open.setdefault(req.symbol, {})[order.order_id] = order
            self._report(order, now, "NEW")
        self.publish(order_list.event(now))
        self._account(now, [lock_asset])
        return order_list

    def _leg_order(self, req: NewOco, leg: OcoLeg, order_id: int, list_id: int, now: int) -> Order:
        return Order(
            symbol=req.symbol,
            order_id=order_id,
            client_order_id=leg.client_order_id,
            side=req.side,
            type=leg.type,
            time_in_force=leg.time_in_force,
            orig_qty=req.quantity,
            time=now,
            price=leg.price,
            stop_price=leg.stop_price or Decimal(0),
            update_time=now,
            working_time=None if leg.is_stop else now,
            order_list_id=list_id,
        )

    def order_list(self, list_id: int | None, list_client_id: str | None) -> OrderList | None:
        """By orderListId, else by listClientOrderId (the open list with that id, else the latest)."""
        if list_id is not None:
            found = self.order_lists[list_id - 1] if 1 <= list_id <= len(self.order_lists) else None
            return found if found is not None and list_client_id in (None, found.list_client_order_id) else None
        matches = [lst for lst in self.order_lists if lst.list_client_order_id == list_client_id]
        candidates = [lst for lst in matches if lst.is_open] or matches
        return candidates[-1] if candidates else None

    def open_order_lists(self) -> list[OrderList]:
        return [lst for lst in self.order_lists if lst.is_open]

    def cancel_list(self, order_list: OrderList, now: int, cancel_ids: dict[int, str] | None = None) -> None:
        """Cancel every open leg (the shared lock is released once), then `listStatus` ALL_DONE."""
        legs = [leg for leg in order_list.legs if leg.is_open]
        if not legs:
            raise BinanceError(-2011, "Unknown order list sent.")
        asset, locked = legs[0].locked_asset, max(leg.locked_remaining for leg in legs)
        if locked:
            self.ledger.unlock(asset, locked)
        for leg in legs:
            self.open.get(leg.symbol, {}).pop(leg.order_id, None)
            leg.status, leg.update_time, leg.locked_remaining = "CANCELED", now, Decimal(0)
            cid = (cancel_ids or {}).get(leg.order_id)
            self._report(leg, now, "CANCELED", cancel_client_id=cid)
        order_list.refresh(now)
        self.publish(order_list.event(now))
        self._account(now, [asset])

    def _activate(self, order: Order, now: int) -> bool:
        """A leg of an OCO acts (fills or triggers): the other open legs expire; the lock stays with this one.
        True if a leg expired."""
        if order.order_list_id < 0:
            return False
        expired = False
        for other in self.order_lists[order.order_list_id - 1].legs:
            if other is order or not other.is_open:
                continue
            self.open.get(other.symbol, {}).pop(other.order_id, None)
            other.status, other.update_time, other.locked_remaining = "EXPIRED", now, Decimal(0)
            self._report(other, now, "EXPIRED")
            expired = True
        return expired

    def _list_changed(self, order: Order, now: int) -> None:
        """`listStatus` after a leg's change (ALL_DONE once no leg is open)."""
        order_list = self.order_lists[order.order_list_id - 1]
        order_list.refresh(now)
        self.publish(order_list.event(now))

    def _oco_losers(self, book: dict[int, Order], path: list[Decimal], open_time: int) -> set[int]:
        """Legs that must not act in this candle: the other leg of an OCO reaches its level first on the path."""
        losers: set[int] = set()
        seen: set[int] = set()
        for order in book.values():
            if order.order_list_id < 0 or order.order_list_id in seen or order.time > open_time:
                continue
            seen.add(order.order_list_id)
            legs = [leg for leg in self.order_lists[order.order_list_id - 1].legs if leg.is_open]
            if len(legs) != 2 or any(leg.working_time is not None and leg.is_stop for leg in legs):
                continue
            at = {}
            for leg in legs:
                if leg.is_stop:  # SELL stop: falls to it; BUY stop: rises to it
                    at[leg.order_id] = first_touch(path, leg.stop_price, rising=leg.side == "BUY")
                else:  # limit SELL: rises to it; limit BUY: falls to it
                    at[leg.order_id] = first_touch(path, leg.price, rising=leg.side == "SELL")
            reached = {oid: pos for oid, pos in at.items() if pos is not None}
            if reached:
                first = min(reached, key=lambda oid: reached[oid])
                losers.update(oid for oid in at if oid != first)
        return losers

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
        if order.order_list_id > 0:  # a leg of an order list: the whole list is canceled
            self.cancel_list(self.order_lists[order.order_list_id - 1], now, {order.order_id: cancel_id})
            return order
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
            losers = self._oco_losers(book, path, open_time)
            for order in list(book.values()):
                if order.time > open_time or not order.is_open or order.order_id in losers:
                    continue
                stop = None if order.triggered else order.stop_price
                result = walk(path, order.side, order.price, stop, order.triggered)
                if result.triggered and not order.triggered:
                    order.working_time = order.update_time = boundary
                    expired = self._activate(order, boundary)
                    self._report(order, boundary, "NEW")
                    if expired:
                        self._list_changed(order, boundary)
                if result.fill_price is not None:
                    qty = fill_quantity(order.remaining, self.partial_ratio, f.step_size, f.min_qty)
                    self._fill(order, result.fill_price, qty, maker=result.maker, now=boundary)

    def _fill(self, order: Order, price: Decimal, qty: Decimal, *, maker: bool, now: int) -> Trade:
        expired = self._activate(order, now)
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
            order_list_id=order.order_list_id,
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
        if order.order_list_id > 0 and (expired or final):
            self._list_changed(order, now)
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
