"""Spot executors: long (limit entry, stop on whatever fills), close, move-stop, and the protector's sync step.

All prices and quantities go through the shared rules (`binance_tool.trading`): the entry limit, stop and stop-limit
from the edge's `ExecutionSettings`, rounding from the symbol's filters.  Client order ids are pure functions of
(edge, signal or trade, leg), so a retried request cannot place a second order.  One asyncio lock per
(edge, symbol) serialises the commands and the protector within the process; the trade store's claim makes one
active trade per (edge, symbol) across processes.
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import structlog

from binance_tool.clock import Clock
from binance_tool.events import OrderSummary, deterministic_id
from binance_tool.exchange.execution import (
    AccountData,
    ExchangeUnavailable,
    OrderOutcome,
    OrderRequest,
    OrderResult,
    OrderState,
    OrderType,
    Side,
    SpotExecution,
    TimeInForce,
    client_order_id,
)
from binance_tool.trading import EXECUTION_SETTINGS, ExecutionSettings, OrderKind, SymbolFilters
from services.trade_abstraction.models import (
    CloseRequest,
    LongRequest,
    MoveStopRequest,
    TradeStatus,
)
from services.trade_abstraction.store import TradeRecord, TradeState, TradeStore

log = structlog.get_logger()
ZERO = Decimal(0)
RESOLVE_DELAYS_S = (0.05, 0.2, 0.5)


@dataclass
class Outcome:
    status: TradeStatus
    msg: str
    trade: TradeRecord | None = None
    orders: list[OrderSummary] = field(default_factory=list)
    retry_after_s: float | None = None
    retry_allowed: bool = False  # nothing happened: the idempotency key may be reused


def summary(role: str, o: OrderState) -> OrderSummary:
    return OrderSummary(
        role=role,
        client_order_id=o.client_order_id,
        order_id=o.order_id,
        side=o.side.value,
        type=o.type.value,
        status=o.status.value,
        orig_qty=o.orig_qty,
        executed_qty=o.executed_qty,
        price=o.price or None,
        stop_price=o.stop_price or None,
        average_price=o.average_price,
    )


class SpotExecutor:
    def __init__(
        self,
        execution: SpotExecution,
        account: AccountData,
        store: TradeStore,
        clock: Clock,
        quote_asset: str = "USDT",
        entry_timeout_ms: int = 86_400_000,
        settings_table: dict[str, ExecutionSettings] | None = None,
    ) -> None:
        self.ex = execution
        self.account = account
        self.store = store
        self.clock = clock
        self.quote = quote_asset
        self.entry_timeout_ms = entry_timeout_ms
        self.table = settings_table if settings_table is not None else EXECUTION_SETTINGS
        self.locks: defaultdict[tuple[str, str], asyncio.Lock] = defaultdict(asyncio.Lock)
        self._filters: dict[str, tuple[float, SymbolFilters]] = {}  # symbol → (read at, filters)
        self.filters_ttl_s = 60.0

    # --- shared lookups -----------------------------------------------------------------------------------
    async def _market(self, edge: str, symbol: str) -> tuple[ExecutionSettings, SymbolFilters] | Outcome:
        settings = self.table.get(edge)
        if settings is None:
            return Outcome(TradeStatus.UNKNOWN_EDGE, f"unknown edge {edge!r} (known: {', '.join(sorted(self.table))})")
        cached = self._filters.get(symbol)
        if cached is not None and time.monotonic() - cached[0] < self.filters_ttl_s:
            filters: SymbolFilters | None = cached[1]
        else:
            try:
                filters = (await self.account.symbol_filters([symbol])).get(symbol)
            except ExchangeUnavailable as exc:
                why = f"exchange info unavailable: {exc}"
                return Outcome(TradeStatus.EXCHANGE_UNAVAILABLE, why, retry_allowed=True)
            if filters is not None:
                self._filters[symbol] = (time.monotonic(), filters)
        if filters is None or (filters.quote_asset and filters.quote_asset != self.quote):
            return Outcome(TradeStatus.UNKNOWN_SYMBOL, f"{symbol} is not a tradable {self.quote} spot market")
        return settings, filters

    # --- long -----------------------------------------------------------------------------------------------
    async def long(self, req: LongRequest) -> Outcome:
        market = await self._market(req.edge, req.symbol)
        if isinstance(market, Outcome):
            return market
        settings, filters = market
        limit = settings.entry_limit_price(req.signal_price, filters)
        quantity = filters.quantity_down(req.quantity)
        problems = filters.violations(quantity, limit) if quantity > 0 else ["quantity rounds to 0"]
        if problems:
            return Outcome(TradeStatus.TOO_SMALL_TO_TRADE, "too small to trade: " + "; ".join(problems))
        now = self.clock.now_ms()
        record = TradeRecord(
            trade_id=str(deterministic_id("trade", req.edge, req.symbol, req.signal_id)),
            edge=req.edge,
            symbol=req.symbol,
            base_asset=filters.base_asset or req.symbol.removesuffix(self.quote),
            quote_asset=self.quote,
            signal_id=req.signal_id,
            created_ms=now,
            entry_deadline_ms=now + self.entry_timeout_ms,
            entry_client_id=client_order_id(req.edge, req.signal_id, "entry"),
            entry_qty=quantity,
            entry_limit=limit,
        )
        async with self.locks[(req.edge, req.symbol)]:
            existing_id = await self.store.claim(record)
            if existing_id is not None:
                existing = await self.store.get(existing_id)
                if existing is not None and existing.signal_id == req.signal_id:  # the same signal again
                    return Outcome(TradeStatus.ENTERED, "already entered for this signal", existing)
                return Outcome(
                    TradeStatus.ALREADY_IN_POSITION, f"{req.edge} already has trade {existing_id} on {req.symbol}"
                )
            request = OrderRequest(
                req.symbol, Side.BUY, OrderType.LIMIT, quantity, record.entry_client_id, limit, None, TimeInForce.GTC
            )
            result = await self.ex.place_order(request)
            return await self._after_entry(record, result, settings, filters)

    async def _after_entry(
        self, record: TradeRecord, result: OrderResult, settings: ExecutionSettings, filters: SymbolFilters
    ) -> Outcome:
        if result.outcome is OrderOutcome.REJECTED and "duplicate" in result.reason.lower():
            result = await self._resolve(record.symbol, record.entry_client_id, result)
        if result.outcome is OrderOutcome.UNKNOWN:
            result = await self._resolve(record.symbol, record.entry_client_id, result)
        if result.outcome is OrderOutcome.ACCEPTED and result.order is not None:
            self._apply_entry(record, result.order)
            await self.store.save(record)
            orders = [summary("entry", result.order)]
            if record.executed_qty > 0:
                protected = await self._protect(record, settings, filters)
                orders += protected.orders
                if protected.status is TradeStatus.PROTECTION_FAILED:
                    return protected
            msg = (
                f"entry {record.entry_status}: {record.executed_qty} of {record.entry_qty} (limit {record.entry_limit})"
            )
            return Outcome(TradeStatus.ENTERED, msg, record, orders)
        if result.outcome is OrderOutcome.UNKNOWN:
            record.entry_status = "UNKNOWN"
            record.note = "entry outcome unknown; the protector resolves it by client order id"
            await self.store.save(record)
            return Outcome(TradeStatus.UNKNOWN_OUTCOME, record.note, record)
        record.state, record.entry_status, record.note = TradeState.NOT_ENTERED, "REJECTED", result.reason
        await self.store.save(record)
        if result.rate_limited or (result.outcome is OrderOutcome.DENIED and result.retry_after_s):
            return Outcome(
                TradeStatus.RATE_LIMITED, f"rate limited: {result.reason}", record, [], result.retry_after_s, True
            )
        if result.outcome is OrderOutcome.DENIED:
            return Outcome(TradeStatus.EXCHANGE_UNAVAILABLE, f"not sent: {result.reason}", record, retry_allowed=True)
        if result.reason.startswith("not placed"):
            return Outcome(TradeStatus.EXCHANGE_UNAVAILABLE, result.reason, record, retry_allowed=True)
        if result.code == -2010 and "insufficient" in result.reason.lower():
            return Outcome(TradeStatus.INSUFFICIENT_BALANCE, result.reason, record)
        return Outcome(TradeStatus.REJECTED_BY_EXCHANGE, f"{result.code}: {result.reason}", record)

    async def _resolve(self, symbol: str, cid: str, first: OrderResult) -> OrderResult:
        """An order whose outcome is unknown: ask the exchange by client order id."""
        absent = 0
        for delay in RESOLVE_DELAYS_S:
            try:
                order = await self.ex.get_order(symbol, cid)
            except ExchangeUnavailable:
                await asyncio.sleep(delay)
                continue
            if order is not None:
                return OrderResult(OrderOutcome.ACCEPTED, order)
            absent += 1
            await asyncio.sleep(delay)
        if absent == len(RESOLVE_DELAYS_S):
            return OrderResult(OrderOutcome.REJECTED, None, None, f"not placed ({first.reason or first.outcome})")
        return first

    def _apply_entry(self, record: TradeRecord, order: OrderState) -> None:
        if record.entry_order_id is None and order.time_ms:  # the deadline runs on the exchange's clock
            record.entry_deadline_ms = order.time_ms + self.entry_timeout_ms
        record.entry_order_id = order.order_id
        record.entry_status = order.status.value
        if order.executed_qty >= record.executed_qty:  # order state only moves forward
            record.executed_qty = order.executed_qty
            record.executed_quote = order.cummulative_quote_qty
        if not order.status.is_open:
            record.state = TradeState.OPEN if record.executed_qty > 0 else TradeState.NOT_ENTERED

    @staticmethod
    def _count_stop_fill(record: TradeRecord, stop: OrderState | None) -> None:
        """A stop leaves (cancelled by us or behind our back, expired): what it sold before is an exit."""
        if stop is not None and stop.executed_qty > 0:
            record.exit_qty += stop.executed_qty
            record.exit_quote += stop.cummulative_quote_qty

    async def _drop_stop(self, record: TradeRecord) -> OrderState | None:
        """Cancel the trade's stop; what it sold before — a partial fill, or all of it when it filled before the
        cancel arrived — counts as an exit.  Returns the cancelled order (None when the exchange no longer had it
        open)."""
        assert record.stop_client_id is not None
        cancelled = await self.ex.cancel_order(record.symbol, record.stop_client_id)
        if cancelled.order is not None:
            self._count_stop_fill(record, cancelled.order)
        elif cancelled.outcome is OrderOutcome.REJECTED:
            self._count_stop_fill(record, await self._safe_get(record.symbol, record.stop_client_id))
        record.stop_client_id, record.stop_qty = None, ZERO
        return cancelled.order

    async def _own_quantity(self, record: TradeRecord) -> Decimal:
        """What this trade holds: the entry's executed quantity less the commission its trades paid in the base
        asset (read from `myTrades`), less what was sold.  The balance may hold more (another edge, a manual buy,
        dust): a stop or an exit never sells that.  Raises ExchangeUnavailable."""
        if record.entry_order_id is None or record.executed_qty <= 0:
            return record.executed_qty - record.exit_qty
        if record.entry_base_fee_for != record.executed_qty:  # read once per filled quantity (not every sweep)
            trades = await self.account.my_trades(record.symbol)  # the most recent 1000: an active trade's fills
            record.entry_base_fee = sum(
                (t.commission for t in trades
                 if t.order_id == record.entry_order_id and t.commission_asset == record.base_asset),
                ZERO,
            )  # fmt: skip
            record.entry_base_fee_for = record.executed_qty
        return record.executed_qty - record.entry_base_fee - record.exit_qty

    # --- protection: the stop covers what has filled -------------------------------------------------------
    async def _protect(self, record: TradeRecord, settings: ExecutionSettings, filters: SymbolFilters) -> Outcome:
        covered = Outcome(TradeStatus.ENTERED, "stop already covers the filled quantity", record)
        try:
            balance = (await self.account.balances()).get(record.base_asset)
            held = balance.total if balance is not None else ZERO
            at_most = filters.quantity_down(min(record.executed_qty - record.exit_qty, held))
            if record.average_entry is None or at_most <= record.stop_qty:
                return covered  # (the sweep's usual case: no trade list read)
            own = await self._own_quantity(record)
        except ExchangeUnavailable as exc:
            return Outcome(TradeStatus.EXCHANGE_UNAVAILABLE, f"balances unavailable: {exc}", record)
        target = filters.quantity_down(min(own, held))  # never more than this trade holds (other edges, by hand)
        average = record.average_entry
        if average is None or target <= record.stop_qty:
            return covered
        stop = settings.stop_price(average, filters)
        limit = settings.stop_limit_price(stop, filters)
        if filters.violations(target, limit):
            record.note = f"filled {target} is below the exchange minimum for a stop; not yet protected"
            await self.store.save(record)
            log.warning("tas_stop_too_small", trade_id=record.trade_id, quantity=str(target))
            return Outcome(TradeStatus.ENTERED, record.note, record)
        orders: list[OrderSummary] = []
        if record.stop_client_id is not None:
            if (replaced := await self._drop_stop(record)) is not None:
                orders.append(summary("replaced-stop", replaced))
            own = await self._own_quantity(record)
            target = filters.quantity_down(min(own, held))
            if target <= 0 or filters.violations(target, limit):
                await self.store.save(record)
                return Outcome(TradeStatus.ENTERED, "the stop had already sold what the trade held", record, orders)
        placed = await self._place_stop(record, target, stop, limit)
        if placed.outcome is OrderOutcome.ACCEPTED and placed.order is not None:
            orders.append(summary("stop", placed.order))
            log.info(
                "tas_protected", trade_id=record.trade_id, symbol=record.symbol, stop=str(stop), quantity=str(target)
            )
            return Outcome(TradeStatus.ENTERED, f"stop {stop} for {target}", record, orders)
        return await self._dump(record, filters, f"stop could not be placed: {placed.reason}", orders)

    async def _place_stop(self, record: TradeRecord, qty: Decimal, stop: Decimal, limit: Decimal) -> OrderResult:
        for _ in range(2):
            record.stop_version += 1
            cid = client_order_id(record.edge, record.trade_id, f"s{record.stop_version}")
            request = OrderRequest(
                record.symbol, Side.SELL, OrderType.STOP_LOSS_LIMIT, qty, cid, limit, stop, TimeInForce.GTC
            )
            result = await self.ex.place_order(request)
            if result.outcome is OrderOutcome.UNKNOWN:
                result = await self._resolve(record.symbol, cid, result)
            if result.outcome is OrderOutcome.ACCEPTED:
                record.stop_client_id, record.stop_price, record.stop_limit, record.stop_qty = cid, stop, limit, qty
                await self.store.save(record)
                return result
            if result.rate_limited and result.retry_after_s:
                await asyncio.sleep(min(result.retry_after_s, 5.0))
        record.stop_client_id, record.stop_qty = None, ZERO
        await self.store.save(record)
        return result

    async def _dump(self, record: TradeRecord, filters: SymbolFilters, why: str, orders: list[OrderSummary]) -> Outcome:
        """No stop could be placed: never leave a position unprotected — sell what was bought."""
        log.error("tas_protection_failed", trade_id=record.trade_id, reason=why)
        sold = await self._sell_all(record, filters, "dump")
        orders += sold.orders
        record.note = f"{why}; {sold.msg}"
        await self.store.save(record)
        return Outcome(TradeStatus.PROTECTION_FAILED, record.note, record, orders)

    async def _sell_all(self, record: TradeRecord, filters: SymbolFilters, leg: str) -> Outcome:
        if record.entry_status in ("NEW", "PARTIALLY_FILLED"):
            cancelled = await self.ex.cancel_order(record.symbol, record.entry_client_id)
            if cancelled.order is not None:
                self._apply_entry(record, cancelled.order)
        if record.entry_order_id is not None and record.executed_qty <= record.exit_qty:  # nothing was bought
            record.state, record.closed_ms = TradeState.CLOSED, self.clock.now_ms()
            record.note = "the entry never filled; cancelled"
            await self.store.save(record)
            return Outcome(TradeStatus.CLOSED, record.note, record)
        try:
            balance = (await self.account.balances()).get(record.base_asset)
            own = await self._own_quantity(record)
            price = (await self.account.prices([record.symbol])).get(record.symbol)
        except ExchangeUnavailable as exc:
            return Outcome(TradeStatus.EXCHANGE_UNAVAILABLE, f"balances or price unavailable: {exc}", record)
        if not price:  # without a price "too small to sell" cannot be told from "worth selling": never close blind
            return Outcome(
                TradeStatus.EXCHANGE_UNAVAILABLE, f"no price for {record.symbol}", record, retry_allowed=True
            )
        qty = filters.quantity_down(min(balance.free if balance else ZERO, own))
        if qty <= 0 or filters.violations(qty, price, OrderKind.MARKET):
            record.state, record.closed_ms = TradeState.CLOSED, self.clock.now_ms()
            await self.store.save(record)
            return Outcome(TradeStatus.CLOSED, f"nothing left to sell ({qty} {record.base_asset})", record)
        cid = client_order_id(record.edge, record.trade_id, leg)
        result = await self.ex.place_order(OrderRequest(record.symbol, Side.SELL, OrderType.MARKET, qty, cid))
        if result.outcome is OrderOutcome.UNKNOWN:
            result = await self._resolve(record.symbol, cid, result)
        if result.outcome is not OrderOutcome.ACCEPTED or result.order is None:
            return Outcome(
                TradeStatus.RATE_LIMITED if result.rate_limited else TradeStatus.REJECTED_BY_EXCHANGE,
                f"sell failed: {result.code}: {result.reason}",
                record,
                retry_after_s=result.retry_after_s,
            )
        record.exit_client_id = cid
        record.exit_qty += result.order.executed_qty
        record.exit_quote += result.order.cummulative_quote_qty
        record.state, record.closed_ms = TradeState.CLOSED, self.clock.now_ms()
        await self.store.save(record)
        avg = result.order.average_price
        return Outcome(
            TradeStatus.CLOSED, f"sold {result.order.executed_qty} at {avg}", record, [summary("exit", result.order)]
        )

    # --- close ----------------------------------------------------------------------------------------------
    async def close(self, req: CloseRequest) -> Outcome:
        market = await self._market(req.edge, req.symbol)
        if isinstance(market, Outcome):
            return market
        _, filters = market
        async with self.locks[(req.edge, req.symbol)]:
            record = await self.store.active(req.edge, req.symbol)
            if record is None:
                return Outcome(TradeStatus.NOT_FOUND, f"no {req.edge} position on {req.symbol}")
            orders: list[OrderSummary] = []
            if record.stop_client_id is not None and (cancelled := await self._drop_stop(record)) is not None:
                orders.append(summary("cancelled-stop", cancelled))
            sold = await self._sell_all(record, filters, "exit")
            if sold.status is not TradeStatus.CLOSED and record.executed_qty > record.exit_qty:
                settings = self.table[req.edge]
                await self._protect(record, settings, filters)  # restore the stop: never unprotected
            sold.orders = orders + sold.orders
            return sold

    async def _safe_get(self, symbol: str, cid: str) -> OrderState | None:
        try:
            return await self.ex.get_order(symbol, cid)
        except ExchangeUnavailable:
            return None

    # --- move-stop ------------------------------------------------------------------------------------------
    async def move_stop(self, req: MoveStopRequest) -> Outcome:
        market = await self._market(req.edge, req.symbol)
        if isinstance(market, Outcome):
            return market
        settings, filters = market
        async with self.locks[(req.edge, req.symbol)]:
            record = await self.store.active(req.edge, req.symbol)
            if record is None or record.stop_client_id is None:
                return Outcome(TradeStatus.NOT_FOUND, f"no protected {req.edge} position on {req.symbol}")
            try:
                price = (await self.account.prices([req.symbol])).get(req.symbol)
            except ExchangeUnavailable as exc:
                return Outcome(
                    TradeStatus.EXCHANGE_UNAVAILABLE, f"price unavailable: {exc}", record, retry_allowed=True
                )
            stop = filters.price_down(req.new_stop_price)
            if price is None or stop >= price:
                return Outcome(TradeStatus.STOP_ABOVE_MARKET, f"new stop {stop} is not below the price {price}", record)
            limit = settings.stop_limit_price(stop, filters)
            old = (record.stop_price, record.stop_limit, record.stop_qty)
            cancelled = await self.ex.cancel_order(record.symbol, record.stop_client_id)
            if cancelled.outcome is not OrderOutcome.ACCEPTED:
                return Outcome(TradeStatus.REJECTED_BY_EXCHANGE, f"cancel failed: {cancelled.reason}", record)
            self._count_stop_fill(record, cancelled.order)  # a partial fill: the new stop covers only the rest
            sold_by_it = cancelled.order.executed_qty if cancelled.order is not None else ZERO
            old = (old[0], old[1], filters.quantity_down(old[2] - sold_by_it))
            placed = await self._place_stop(record, old[2], stop, limit)
            orders = [summary("cancelled-stop", cancelled.order)] if cancelled.order else []
            if placed.outcome is OrderOutcome.ACCEPTED and placed.order is not None:
                orders.append(summary("stop", placed.order))
                return Outcome(TradeStatus.STOP_MOVED, f"stop moved to {stop} (limit {limit})", record, orders)
            assert old[0] is not None and old[1] is not None
            restored = await self._place_stop(record, old[2], old[0], old[1])
            if restored.outcome is not OrderOutcome.ACCEPTED:
                return await self._dump(record, filters, "stop could not be moved or restored", orders)
            return Outcome(
                TradeStatus.REJECTED_BY_EXCHANGE, f"stop not moved ({placed.reason}); old stop restored", record
            )

    # --- protector: bring one trade up to date ---------------------------------------------------------------
    async def sync(self, record: TradeRecord) -> None:
        settings, filters_or = self.table.get(record.edge), await self._market(record.edge, record.symbol)
        if settings is None or isinstance(filters_or, Outcome):
            return
        _, filters = filters_or
        async with self.locks[(record.edge, record.symbol)]:
            current = await self.store.get(record.trade_id)
            if current is None or not current.active:
                return
            record = current
            if record.state is TradeState.ENTERING:
                order = await self._safe_get(record.symbol, record.entry_client_id)
                if order is None or order.status.is_open:  # only then does the deadline matter (one more call)
                    try:
                        now = await self.account.server_time_ms()
                    except ExchangeUnavailable:
                        return
                if order is None:
                    if record.entry_status == "UNKNOWN" and now > record.entry_deadline_ms:
                        record.state, record.note = TradeState.NOT_ENTERED, "entry never reached the exchange"
                        await self.store.save(record)
                    return
                self._apply_entry(record, order)
                if order.status.is_open and now >= record.entry_deadline_ms:
                    cancelled = await self.ex.cancel_order(record.symbol, record.entry_client_id)
                    if cancelled.order is not None:
                        self._apply_entry(record, cancelled.order)
                    log.info("tas_entry_expired", trade_id=record.trade_id, symbol=record.symbol,
                             filled=str(record.executed_qty))  # fmt: skip
                await self.store.save(record)
                if record.executed_qty > record.stop_qty:
                    await self._protect(record, settings, filters)
            elif record.stop_client_id is not None:
                stop = await self._safe_get(record.symbol, record.stop_client_id)
                if stop is not None and stop.status.value == "FILLED":
                    record.exit_qty += stop.executed_qty
                    record.exit_quote += stop.cummulative_quote_qty
                    record.state, record.closed_ms, record.note = TradeState.CLOSED, self.clock.now_ms(), "stopped out"
                    await self.store.save(record)
                    log.info("tas_stopped_out", trade_id=record.trade_id, symbol=record.symbol,
                             quantity=str(stop.executed_qty), average_price=str(stop.average_price))  # fmt: skip
                elif stop is not None and not stop.status.is_open:  # cancelled behind our back: protect again
                    self._count_stop_fill(record, stop)
                    record.stop_client_id, record.stop_qty = None, ZERO
                    await self._protect(record, settings, filters)
            elif record.executed_qty > record.stop_qty:
                await self._protect(record, settings, filters)
