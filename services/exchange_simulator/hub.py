"""Stream fan-out: one clock task walks simulated hour boundaries in order and pushes kline events to the
per-connection bounded queues of the subscribers.  A connection whose queue overflows is closed (policy
violation, 1008), as Binance drops slow clients.

Events at boundary H (a multiple of 1h), for each subscribed stream:
- `<s>@kline_1h`: the hourly candle closing at H, `x: true`;
- `<s>@kline_1d`: if a day closes at H, the final daily candle (`x: true`, the daily file's values), else the
  in-progress daily candle aggregated from that day's hours closed by H (`x: false`).
Event time `E` = H.  A subscription made at sim time T receives only events with E > T.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import structlog

from services.exchange_simulator import candles
from services.exchange_simulator.clock import SimClock
from services.exchange_simulator.data import HOUR_MS, CandleStore

log = structlog.get_logger(__name__)

STREAM_RE = re.compile(r"^([a-z0-9]{1,20})@kline_(1h|1d)$")
CLOSE_SLOW = object()  # queue sentinel: close the connection (overflow)
MAX_WAIT_S = 0.5


class InvalidStream(ValueError):
    pass


@dataclass(frozen=True)
class StreamKey:
    name: str  # e.g. "btcusdt@kline_1d"
    symbol: str  # "BTCUSDT"
    interval: str  # "1d"


def parse_stream(name: str, has_symbol: Callable[[str], bool]) -> StreamKey:
    m = STREAM_RE.match(name)
    if not m or not has_symbol(m.group(1).upper()):
        raise InvalidStream(name)
    return StreamKey(name, m.group(1).upper(), m.group(2))


@dataclass(eq=False)
class Connection:
    id: int
    combined: bool
    queue: asyncio.Queue[object]
    streams: dict[str, int] = field(default_factory=dict)  # stream name -> sim time subscribed
    sent: int = 0
    closed: bool = False

    def info(self) -> dict[str, object]:
        return {
            "id": self.id,
            "combined": self.combined,
            "streams": sorted(self.streams),
            "queued": self.queue.qsize(),
            "sent": self.sent,
        }


class StreamHub:
    def __init__(self, store: CandleStore, clock: SimClock, queue_size: int) -> None:
        self.store = store
        self.clock = clock
        self.queue_size = queue_size
        self.connections: dict[int, Connection] = {}
        self.by_stream: dict[str, set[Connection]] = {}
        self.keys: dict[str, StreamKey] = {}
        self.cursor = clock.now_ms()  # boundaries <= cursor have been fanned out
        self.events_sent = 0
        self._ids = itertools.count(1)
        self._wake = asyncio.Event()
        self._progress = asyncio.Condition()
        self.boundary_listeners: list[Callable[[int], None]] = []  # e.g. the matching engine, before the fan-out

    # -- subscriptions -----------------------------------------------------------------------------------------
    def parse(self, name: str) -> StreamKey:
        return parse_stream(name, self.store.has)

    def connect(self, combined: bool) -> Connection:
        conn = Connection(next(self._ids), combined, asyncio.Queue(maxsize=self.queue_size))
        self.connections[conn.id] = conn
        return conn

    def subscribe(self, conn: Connection, key: StreamKey) -> None:
        if key.name in conn.streams:
            return
        self.store.series(key.symbol, key.interval)  # load now, not inside the fan-out
        self.store.series(key.symbol, "1h")
        conn.streams[key.name] = self.clock.now_ms()
        self.keys[key.name] = key
        self.by_stream.setdefault(key.name, set()).add(conn)

    def unsubscribe(self, conn: Connection, name: str) -> None:
        conn.streams.pop(name, None)
        subs = self.by_stream.get(name)
        if subs is not None:
            subs.discard(conn)
            if not subs:
                del self.by_stream[name]

    def disconnect(self, conn: Connection) -> None:
        conn.closed = True
        for name in list(conn.streams):
            self.unsubscribe(conn, name)
        self.connections.pop(conn.id, None)

    # -- clock task ----------------------------------------------------------------------------------------------
    def wake(self) -> None:
        """The clock was changed (advance / pause / resume / speed): re-plan now."""
        self._wake.set()

    async def run(self) -> None:
        while True:
            self._wake.clear()
            now = self.clock.now_ms()
            boundary = (self.cursor // HOUR_MS + 1) * HOUR_MS
            while boundary <= now:
                self._notify(boundary)
                self.fan_out(boundary)
                self.cursor = boundary
                boundary += HOUR_MS
                await asyncio.sleep(0)  # let the writers drain between boundaries
            self.cursor = max(self.cursor, now)
            async with self._progress:
                self._progress.notify_all()
            delay = self.clock.real_seconds_until(boundary)
            timeout = MAX_WAIT_S if delay is None else min(delay, MAX_WAIT_S)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=timeout)

    def _notify(self, boundary: int) -> None:
        for listener in self.boundary_listeners:
            try:
                listener(boundary)
            except Exception:  # a listener bug must not stop the clock task
                log.exception("boundary_listener_failed", boundary=boundary)

    async def wait_until(self, sim_ms: int, timeout_s: float = 30.0) -> None:
        """Return once every event up to `sim_ms` has been queued to the subscribers."""
        self.wake()
        async with asyncio.timeout(timeout_s), self._progress:
            await self._progress.wait_for(lambda: self.cursor >= sim_ms)

    def fan_out(self, boundary: int) -> None:
        for name, subs in list(self.by_stream.items()):
            key = self.keys[name]
            daily = self.store.series(key.symbol, "1d")
            hourly = self.store.series(key.symbol, "1h")
            if key.interval == "1h":
                candle = candles.hour_event_candle(hourly, boundary)
            else:
                candle = candles.day_event_candle(daily, hourly, boundary)
            if candle is None:
                continue
            raw = orjson.dumps(candles.kline_event(key.symbol, key.interval, candle, boundary))
            wrapped = b'{"stream":"' + name.encode() + b'","data":' + raw + b"}"
            for conn in list(subs):
                since = conn.streams.get(name)
                if since is None or since >= boundary:
                    continue
                self._offer(conn, wrapped if conn.combined else raw)

    def _offer(self, conn: Connection, message: bytes) -> None:
        try:
            conn.queue.put_nowait(message)
            self.events_sent += 1
        except asyncio.QueueFull:
            log.warning("ws_slow_client_dropped", connection=conn.id, streams=len(conn.streams))
            self.disconnect(conn)
            while not conn.queue.empty():
                conn.queue.get_nowait()
            conn.queue.put_nowait(CLOSE_SLOW)

    def status(self) -> dict[str, object]:
        return {
            "cursor": self.cursor,
            "eventsQueued": self.events_sent,
            "connections": [c.info() for c in self.connections.values()],
        }
