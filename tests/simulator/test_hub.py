"""Stream fan-out: order, no history before subscribing, slow clients dropped, throughput."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import orjson

from services.exchange_simulator.clock import SimClock
from services.exchange_simulator.data import CandleStore
from services.exchange_simulator.hub import CLOSE_SLOW, StreamHub

from .conftest import DAY, DAY0, HOUR, write_dataset


def _hub(data_dir: Path, queue_size: int = 10_000) -> StreamHub:
    store = CandleStore(data_dir)
    store.load_daily()
    return StreamHub(store, SimClock(DAY0, speed=0), queue_size)


def _drain(hub: StreamHub, conn) -> list[dict]:
    out = []
    while not conn.queue.empty():
        out.append(orjson.loads(conn.queue.get_nowait()))
    return out


async def test_daily_stream_sends_hourly_in_progress_updates_then_the_final_candle(dataset: Path):
    hub = _hub(dataset)
    conn = hub.connect(combined=False)
    hub.subscribe(conn, hub.parse("testusdt@kline_1d"))
    for b in range(1, 25):
        hub.fan_out(DAY0 + b * HOUR)
    events = _drain(hub, conn)
    assert [e["E"] for e in events] == [DAY0 + b * HOUR for b in range(1, 25)]
    assert [e["k"]["x"] for e in events] == [False] * 23 + [True]
    assert all(e["k"]["t"] == DAY0 for e in events)
    assert events[0]["k"]["c"] == "101.00" and events[22]["k"]["c"] == "123.00"
    assert (events[-1]["k"]["o"], events[-1]["k"]["c"], events[-1]["k"]["v"]) == ("100.00", "142.00", "123.456")


async def test_combined_connection_gets_wrapped_payloads_per_stream(dataset: Path):
    hub = _hub(dataset)
    conn = hub.connect(combined=True)
    hub.subscribe(conn, hub.parse("testusdt@kline_1h"))
    hub.fan_out(DAY0 + HOUR)
    (msg,) = _drain(hub, conn)
    assert msg["stream"] == "testusdt@kline_1h" and msg["data"]["k"]["x"] is True and msg["data"]["k"]["i"] == "1h"


async def test_subscription_receives_no_events_at_or_before_its_subscription_time(dataset: Path):
    hub = _hub(dataset)
    hub.clock.advance_to(DAY0 + 2 * HOUR)
    conn = hub.connect(combined=False)
    hub.subscribe(conn, hub.parse("testusdt@kline_1h"))
    for b in range(1, 5):
        hub.fan_out(DAY0 + b * HOUR)
    assert [e["E"] for e in _drain(hub, conn)] == [DAY0 + 3 * HOUR, DAY0 + 4 * HOUR]


async def test_slow_client_overflowing_its_queue_is_disconnected(dataset: Path):
    hub = _hub(dataset, queue_size=3)
    conn = hub.connect(combined=False)
    hub.subscribe(conn, hub.parse("testusdt@kline_1h"))
    for b in range(1, 6):
        hub.fan_out(DAY0 + b * HOUR)
    assert conn.closed and conn.id not in hub.connections and not hub.by_stream
    assert conn.queue.get_nowait() is CLOSE_SLOW


async def test_run_loop_fans_out_every_boundary_up_to_an_advance(dataset: Path):
    hub = _hub(dataset)
    conn = hub.connect(combined=False)
    hub.subscribe(conn, hub.parse("testusdt@kline_1d"))
    task = asyncio.create_task(hub.run())
    try:
        hub.clock.advance_to(DAY0 + DAY + 2 * HOUR)
        await hub.wait_until(hub.clock.now_ms(), timeout_s=5)
    finally:
        task.cancel()
    events = _drain(hub, conn)
    assert len(events) == 26 and events[23]["k"]["x"] is True and events[24]["k"]["t"] == DAY0 + DAY


async def test_fan_out_keeps_up_with_33_symbols_at_one_day_per_second(tmp_path: Path):
    symbols = tuple(f"S{i:02d}USDT" for i in range(33))
    hub = _hub(write_dataset(tmp_path / "data", symbols, days=2))
    conns = [hub.connect(combined=True) for _ in range(2)]
    for conn in conns:
        for s in symbols:
            hub.subscribe(conn, hub.parse(f"{s.lower()}@kline_1d"))
            hub.subscribe(conn, hub.parse(f"{s.lower()}@kline_1h"))
    started = time.perf_counter()
    for b in range(1, 25):  # one simulated day: 33 x 2 streams x 24 boundaries x 2 connections = 3168 messages
        hub.fan_out(DAY0 + b * HOUR)
    elapsed = time.perf_counter() - started
    assert sum(c.queue.qsize() for c in conns) == 3168
    assert elapsed < 0.5, f"one simulated day took {elapsed:.3f}s of real time"
