"""candle-ingestion: follow the kline websocket streams and publish every closed candle, once per candle.

Several replicas run side by side.  Each publishes every closed candle it sees with the candle's deterministic
event id (so consumers keep one), and a shared Redis cursor per market (newest published open time, only moving
forward) tells each replica where the published sequence ends.  A closed candle beyond cursor + 1 interval, or
a stream reconnect, back-fills the missed closed candles from REST first, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field

import structlog

from binance_tool.bus.api import Publisher
from binance_tool.clock import Clock
from binance_tool.events import CandleClosed, Market
from binance_tool.exchange.market_data import Kline, MarketData, StreamInterrupted, StreamItem, interval_ms
from binance_tool.health import Health
from binance_tool.state.cursors import CandleCursorStore

FOLLOW_UP = "follow-up after a reconnect"
FOLLOW_UP_DELAYS_S = (5.0, 20.0)


@dataclass
class IngestionStats:
    updates: int = 0
    published: int = 0
    backfilled: int = 0
    skipped: int = 0
    interruptions: int = 0
    per_symbol: dict[str, int] = field(default_factory=dict)


class CandleIngestionService:
    def __init__(
        self,
        publisher: Publisher,
        market_data: MarketData,
        cursors: CandleCursorStore,
        clock: Clock,
        markets: Sequence[Market],
        intervals: Sequence[str],
        health: Health | None = None,
        replica: str = "",
    ) -> None:
        self._bus = publisher
        self._md = market_data
        self._cursors = cursors
        self._clock = clock
        self._markets = {m.symbol: m for m in markets}
        self._intervals = list(intervals)
        self.health = health or Health()
        self.stats = IngestionStats()
        self.log = structlog.get_logger().bind(replica=replica)
        self._locks = {(i, s): asyncio.Lock() for i in self._intervals for s in self._markets}
        self._started_ms: dict[str, int] = {}  # per interval: exchange time of this replica's first catch-up
        self._queue: asyncio.Queue[tuple[str, StreamItem]] | None = None

    async def run(self, stop: asyncio.Event) -> None:
        queue: asyncio.Queue[tuple[str, StreamItem]] = asyncio.Queue()
        self._queue = queue
        # Streams first, so nothing that closes during the initial back-fill is missed (it is buffered).
        readers = [asyncio.create_task(self._read(interval, queue)) for interval in self._intervals]
        try:
            for interval in self._intervals:
                await self.catch_up(interval)
            self.health.ready = True
            self.log.info("ingestion_ready", markets=len(self._markets), intervals=self._intervals)
            stopper = asyncio.create_task(stop.wait())
            while not stop.is_set():
                getter = asyncio.create_task(queue.get())
                done, _ = await asyncio.wait({getter, stopper, *readers}, return_when=asyncio.FIRST_COMPLETED)
                for reader in readers:
                    if reader in done and reader.exception() is not None:
                        self.health.fail(f"kline stream failed: {reader.exception()!r}")
                        raise RuntimeError("kline stream failed") from reader.exception()
                if getter not in done:
                    getter.cancel()
                    continue
                interval, item = getter.result()
                await self.handle(interval, item)
            stopper.cancel()
        finally:
            for reader in readers:
                reader.cancel()
            for reader in readers:
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await reader

    async def _read(self, interval: str, queue: asyncio.Queue[tuple[str, StreamItem]]) -> None:
        async for item in self._md.kline_stream(list(self._markets), interval):
            if isinstance(item, Kline) and not item.closed:
                self.stats.updates += 1  # in-progress updates are not published
                continue
            await queue.put((interval, item))

    async def handle(self, interval: str, item: StreamItem) -> None:
        if isinstance(item, StreamInterrupted):
            self.stats.interruptions += 1
            self.log.warning("kline_stream_interrupted_backfilling", interval=interval, reason=item.reason)
            await self.catch_up(interval)
            if item.reason != FOLLOW_UP and self._queue is not None:
                # python-binance reports the drop before it has reconnected, and does not say when it has: catch up
                # again once the reconnect has had time to happen, or candles closed in between would wait for the
                # next candle's gap check (forever, if the stream has ended).
                loop, queue = asyncio.get_running_loop(), self._queue
                for delay in FOLLOW_UP_DELAYS_S:
                    loop.call_later(delay, queue.put_nowait, (interval, StreamInterrupted(FOLLOW_UP)))
            return
        if item.symbol not in self._markets or not item.closed:
            return
        async with self._locks[(interval, item.symbol)]:
            cursor = await self._cursors.get(interval, item.symbol)
            step = interval_ms(interval)
            if cursor is not None and item.open_time_ms <= cursor:
                self.stats.skipped += 1
                return
            if cursor is not None and item.open_time_ms > cursor + step:
                self.log.info(
                    "candle_gap_backfill",
                    symbol=item.symbol,
                    interval=interval,
                    cursor=cursor,
                    candle_open_time_ms=item.open_time_ms,
                )
                await self._backfill(interval, item.symbol, cursor + step, item.open_time_ms - step)
            await self._publish(interval, item, source="websocket")

    async def catch_up(self, interval: str) -> None:
        """Publish every closed candle after each market's cursor (first start: just set the cursor)."""
        step = interval_ms(interval)
        first = interval not in self._started_ms
        if first:
            self._started_ms[interval] = await self._md.server_time_ms()
        for symbol in self._markets:
            async with self._locks[(interval, symbol)]:
                cursor = await self._cursors.get(interval, symbol)
                if cursor is None and not first:
                    # A market with no candle yet when we started (e.g. a new listing): publish all it has had since.
                    await self._backfill(interval, symbol, self._started_ms[interval] - step, None)
                    continue
                if cursor is None:
                    latest = await self._md.recent_closed_klines(symbol, interval, 1)
                    if latest:
                        await self._cursors.advance(interval, symbol, latest[-1].open_time_ms)
                        self.log.info(
                            "cursor_initialised", symbol=symbol, interval=interval, open_time_ms=latest[-1].open_time_ms
                        )
                    continue
                await self._backfill(interval, symbol, cursor + step, None)

    async def _backfill(self, interval: str, symbol: str, start_ms: int, end_ms: int | None) -> None:
        klines = await self._md.closed_klines(symbol, interval, start_ms, end_ms)
        for k in klines:
            await self._publish(interval, k, source="rest-backfill")
        if klines:
            self.stats.backfilled += len(klines)
            self.log.info(
                "candles_backfilled",
                symbol=symbol,
                interval=interval,
                count=len(klines),
                first_open_time_ms=klines[0].open_time_ms,
                last_open_time_ms=klines[-1].open_time_ms,
            )

    async def _publish(self, interval: str, k: Kline, source: str) -> None:
        market = self._markets[k.symbol]
        event_id = CandleClosed.id_for(market.exchange, k.symbol, interval, k.open_time_ms)
        event = CandleClosed(
            event_id=event_id,
            correlation_id=event_id,
            ts_event_ms=k.close_time_ms,
            ts_init_ms=self._clock.now_ms(),
            market=market,
            interval=interval,
            open_time_ms=k.open_time_ms,
            close_time_ms=k.close_time_ms,
            open=k.open,
            high=k.high,
            low=k.low,
            close=k.close,
            volume=k.volume,
            quote_volume=k.quote_volume,
            trades=k.trades,
            source="websocket" if source == "websocket" else "rest-backfill",
        )
        await self._bus.publish(event)  # returns after the broker's confirm
        await self._cursors.advance(interval, k.symbol, k.open_time_ms)
        self.stats.published += 1
        self.stats.per_symbol[k.symbol] = self.stats.per_symbol.get(k.symbol, 0) + 1
