"""order-ingestion: follow the account's user data stream and publish every execution report and balance update.

Several replicas run side by side; each publishes what it sees with deterministic ids (exchange order id,
execution type, trade id), so consumers keep one.  At start-up, after every stream gap (the adapter's
`on_stream_gap`, called after a re-subscription and before the next event) and whenever the stream iterator ends,
a back-fill rebuilds from REST what may have been missed, per symbol of the universe: `allOrders` from the order
cursor (a report of each order's current state) and `myTrades` after the trade cursor (one TRADE report each),
then a full balances snapshot.  The per-symbol cursors (Redis, shared, forward-only) keep back-fills incremental
across restarts; an overlap is re-published with the same ids and deduplicated downstream.

Ordering: the stream is subscribed before a back-fill reads REST, so nothing falls between the two.  The stream
moves the trade cursor only once this replica has back-filled since its last gap (its stream is then contiguous),
so a trade lost in a gap is never skipped by the cursor.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog

from binance_tool.bus.api import Publisher
from binance_tool.clock import Clock
from binance_tool.events import Envelope
from binance_tool.exchange.execution import AccountData, AccountPosition, ExchangeUnavailable, UserEvent
from binance_tool.health import Health
from binance_tool.state.order_cursors import OrderCursorStore
from services.order_ingestion import reports
from services.order_ingestion.reports import Origin


class GapRelay:
    """The adapter's `on_stream_gap` callback, bound to the service once it exists (the adapter comes first)."""

    def __init__(self) -> None:
        self._target: Callable[[], Awaitable[None]] | None = None

    def connect(self, target: Callable[[], Awaitable[None]]) -> None:
        self._target = target

    async def __call__(self) -> None:
        if self._target is not None:
            await self._target()


@dataclass
class OrderIngestionStats:
    stream_reports: int = 0
    stream_balances: int = 0
    backfills: int = 0
    backfilled_reports: int = 0
    gaps: int = 0
    per_symbol: dict[str, int] = field(default_factory=dict)


class OrderIngestionService:
    def __init__(
        self,
        publisher: Publisher,
        account: AccountData,
        cursors: OrderCursorStore,
        clock: Clock,
        symbols: Sequence[str],
        *,
        exchange: str = "binance",
        account_name: str = "default",
        health: Health | None = None,
        replica: str = "",
        subscribe_wait_s: float = 10.0,
        retry_max_s: float = 5.0,
        max_batch: int = 500,
    ) -> None:
        self._bus = publisher
        self._account = account
        self._cursors = cursors
        self._clock = clock
        self.symbols = list(symbols)
        self.origin = Origin(exchange, account_name)
        self.health = health or Health()
        self.stats = OrderIngestionStats()
        self.log = structlog.get_logger().bind(replica=replica, account=account_name)
        self._subscribe_wait_s = subscribe_wait_s
        self._retry_max_s = retry_max_s
        self._max_batch = max(1, max_batch)
        self._lock = asyncio.Lock()  # one publisher at a time: stream events and back-fills do not interleave
        self._contiguous = False  # back-filled since the last gap: the stream may move the trade cursor
        self._subscribed = True  # the stream was known to be subscribed before the last back-fill read REST

    # --- running ------------------------------------------------------------------------------------------------
    async def run(self, stop: asyncio.Event) -> None:
        """Follow the stream until `stop`; back-fill at start-up and each time the stream iterator has to be
        opened again."""
        reason = "start-up"
        stopper = asyncio.create_task(stop.wait())
        reader: asyncio.Task[None] | None = None
        try:
            while not stop.is_set():
                before = self._subscriptions()
                reader = asyncio.create_task(self._follow(self._account.user_events()))
                self._subscribed = await self._wait_subscribed(before, reader)
                if not await self.backfill(reason, stop=stop):
                    break  # stopped while waiting for the exchange
                if not self.health.ready:
                    self.health.ready = True
                    self.log.info("order_ingestion_ready", symbols=self.symbols)
                await asyncio.wait({reader, stopper}, return_when=asyncio.FIRST_COMPLETED)
                if not reader.done():
                    break
                if (exc := reader.exception()) is not None:
                    self.log.warning("user_stream_failed", error=repr(exc))
                else:
                    self.log.warning("user_stream_ended")
                self._contiguous = False
                self.stats.gaps += 1
                reason = "stream-ended"
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        except Exception as exc:
            self.health.fail(f"order ingestion failed: {exc!r}")
            raise
        finally:
            stopper.cancel()
            if reader is not None and not reader.done():
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    def _subscriptions(self) -> int | None:
        value = getattr(self._account, "user_stream_subscriptions", None)
        return value if isinstance(value, int) else None

    async def _wait_subscribed(self, before: int | None, reader: asyncio.Task[None]) -> bool:
        """Back-fill only once the stream is subscribed (what happens after the REST read then comes by the
        stream).  Adapters that count their subscriptions are waited for, up to `subscribe_wait_s`; False when
        the wait timed out (the stream may then miss what happens between the REST read and the subscription, so
        it must not move the trade cursors until the next back-fill)."""
        await asyncio.sleep(0)
        if before is None:
            return True
        deadline = time.monotonic() + self._subscribe_wait_s
        while (now := self._subscriptions()) is not None and now <= before and not reader.done():
            if time.monotonic() > deadline:
                self.log.warning("user_stream_not_subscribed_yet_backfilling_anyway", wait_s=self._subscribe_wait_s)
                return False
            await asyncio.sleep(0.02)
        return True

    async def _follow(self, events: AsyncIterator[UserEvent]) -> None:
        """Read the stream in one task and publish in another: what arrives while a publish is being confirmed is
        published next as one batch (confirms pipelined), in stream order.  When the stream ends, what is buffered
        is still published; the stream's failure is raised here.  If publishing fails (or this is cancelled), the
        reader is cancelled too — nothing waits on a full buffer — and the caller back-fills from REST."""
        queue: asyncio.Queue[UserEvent] = asyncio.Queue(maxsize=self._max_batch * 20)

        async def pump() -> None:
            async for event in events:
                await queue.put(event)

        pumper = asyncio.create_task(pump())
        try:
            while True:
                if queue.empty():
                    if pumper.done():
                        break
                    getter = asyncio.ensure_future(queue.get())
                    await asyncio.wait({getter, pumper}, return_when=asyncio.FIRST_COMPLETED)
                    if not getter.done():
                        getter.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await getter
                        continue  # the stream ended: publish what is left, then stop
                    batch = [getter.result()]
                else:
                    batch = []
                while len(batch) < self._max_batch and not queue.empty():
                    batch.append(queue.get_nowait())
                await self.handle_many(batch)
            await pumper  # the stream's exception, if it failed
        finally:
            if not pumper.done():
                pumper.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pumper

    async def on_stream_gap(self) -> None:
        """The adapter re-subscribed after a drop: back-fill before its next event is handled."""
        self.stats.gaps += 1
        self._contiguous = False
        self._subscribed = True  # the adapter calls this once it has re-subscribed
        self.log.warning("user_stream_gap_backfilling")
        await self.backfill("stream-gap")

    # --- stream events ------------------------------------------------------------------------------------------
    async def handle(self, event: UserEvent) -> None:
        await self.handle_many([event])

    async def handle_many(self, events: Sequence[UserEvent]) -> None:
        """Publish stream events in order, confirms pipelined; then move each symbol's trade cursor once."""
        async with self._lock:
            now = self._clock.now_ms()
            out: list[Envelope] = []
            last_trade: dict[str, int] = {}
            for event in events:
                if isinstance(event, AccountPosition):
                    out.append(reports.balances_from_stream(event, self.origin, now))
                    self.stats.stream_balances += 1
                    continue
                report = reports.from_stream(event, self.origin, now)
                out.append(report)
                self.stats.stream_reports += 1
                self.stats.per_symbol[event.symbol] = self.stats.per_symbol.get(event.symbol, 0) + 1
                if report.execution_type == "TRADE" and report.trade_id >= 0:
                    last_trade[event.symbol] = max(last_trade.get(event.symbol, -1), report.trade_id)
            await self._bus.publish_many(out)  # returns once every one is confirmed
            if self._contiguous:
                for symbol, trade_id in last_trade.items():
                    await self._cursors.advance(self.origin.account, symbol, trade_id=trade_id)

    # --- back-fill ----------------------------------------------------------------------------------------------
    async def backfill(self, reason: str, stop: asyncio.Event | None = None) -> bool:
        """Every symbol from its cursors, then a balances snapshot; retried while the exchange is unavailable
        (until `stop` when given — then False —, else a few times before the error is raised)."""
        delay, attempts = 0.2, 0
        while True:
            try:
                async with self._lock:
                    await self._backfill_once(reason)
                return True
            except ExchangeUnavailable as exc:
                attempts += 1
                if stop is not None and stop.is_set():
                    return False
                if stop is None and attempts >= 5:
                    raise
                self.log.info("backfill_waiting_for_exchange", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, self._retry_max_s)

    async def _backfill_once(self, reason: str) -> None:
        total = 0
        for symbol in self.symbols:
            total += await self._backfill_symbol(symbol)
        now = self._clock.now_ms()
        # the exchange's time is read *before* the balances: the snapshot is stamped no later than what it shows,
        # so a stream update of a change made meanwhile (stamped later) still wins over it downstream
        server_ms = await self._account.server_time_ms()
        balances = await self._account.balances()
        await self._bus.publish_many([reports.balances_snapshot(balances, self.origin, server_ms, now)])
        self._contiguous = self._subscribed  # the stream may move the cursors only if it was there before the reads
        self.stats.backfills += 1
        self.stats.backfilled_reports += total
        self.log.info("orders_backfilled", reason=reason, reports=total, symbols=len(self.symbols))

    async def _backfill_symbol(self, symbol: str) -> int:
        account = self.origin.account
        cursor = await self._cursors.get(account, symbol)
        orders = await self._account.all_orders(symbol, cursor.order_id)
        trades = await self._account.my_trades(symbol, None if cursor.trade_id is None else cursor.trade_id + 1)
        now = self._clock.now_ms()
        by_id = {o.order_id: o for o in orders}
        events: list[Envelope] = []
        events += reports.in_exchange_order(
            [r for o in orders if (r := reports.order_report(o, self.origin, now)) is not None]
            + reports.trade_reports(trades, by_id, self.origin, now)
        )
        if events:
            await self._bus.publish_many(events)
        open_ids = [o.order_id for o in orders if o.status.is_open]
        next_order = min(open_ids) if open_ids else (max(by_id) + 1 if by_id else None)
        last_trade = max((t.trade_id for t in trades), default=None)
        await self._cursors.advance(account, symbol, order_id=next_order, trade_id=last_trade)
        if events:
            self.stats.per_symbol[symbol] = self.stats.per_symbol.get(symbol, 0) + len(events)
            self.log.info(
                "symbol_backfilled",
                symbol=symbol,
                reports=len(events),
                from_order_id=cursor.order_id,
                after_trade_id=cursor.trade_id,
                next_order_id=next_order,
                last_trade_id=last_trade,
            )
        return len(events)
