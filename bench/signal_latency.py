"""Benchmark: candle close → edge70 decision (and signal) published, through the running cluster.

The simulator runs paused (SIM_SPEED=0); the benchmark advances its clock one day at a time and measures, per
market, the wall time from the day's close being pushed onto the websocket (the advance call returns once the
simulator has queued the final `x: true` updates) to the arrival at an observer queue of edge70's evaluation of
that candle — ws → candle-ingestion (2 replicas) → RabbitMQ → edge70-signals → RabbitMQ → observer.
Signals are published in the same confirmed batch as their evaluation, so they carry the same latency.

Usage: python bench/signal_latency.py [--days 60] [--symbols all]   (needs RabbitMQ and Redis on loopback)
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench._common import percentiles, write_result
from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Subscription
from binance_tool.config import BusSettings
from binance_tool.events import Edge70CandleEvaluated, Edge70Signal
from binance_tool.state.idempotency import InMemoryIdempotencyStore
from cli.cluster import ClusterConfig, LocalCluster, cluster_specs
from cli.resets import reset_bus_and_state

DAY = 86_400_000
OBSERVER = Subscription(
    queue=f"bench-latency-observer-{uuid.uuid4().hex[:8]}",
    bindings=(Binding(Edge70Signal.EXCHANGE, "#"),),
    accepts=(Edge70CandleEvaluated, Edge70Signal),
    prefetch=500,
    dedup=False,
    extra_arguments={"x-expires": 60_000},
)


async def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=60)
    ap.add_argument("--start", default="2021-01-01")
    ap.add_argument("--symbols", default="", help="comma list; default: all 33 markets")
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/binance-spot"))
    ap.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/bt-test")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/4")
    args = ap.parse_args()
    await reset_bus_and_state(args.amqp_url, args.redis_url)
    arrivals: dict[tuple[str, int], float] = {}
    signal_keys: set[tuple[str, int]] = set()

    async def observe(event, _delivery) -> None:
        key = (event.market.symbol, event.candle_open_time_ms)
        if isinstance(event, Edge70CandleEvaluated):
            arrivals.setdefault(key, time.perf_counter())
        else:
            signal_keys.add(key)

    bus = AmqpBus(BusSettings(amqp_url=args.amqp_url), InMemoryIdempotencyStore(), "bench")
    await bus.connect()
    await bus.declare([OBSERVER])
    consumer = await bus.consume(OBSERVER, observe)
    cfg = ClusterConfig(
        amqp_url=args.amqp_url,
        redis_url=args.redis_url,
        data_dir=args.data_dir,
        start=args.start,
        speed=0,
        symbols=args.symbols,
        log_level="WARNING",
        trading=False,
    )
    specs, sim_url = cluster_specs(cfg)
    cluster = LocalCluster(specs, Path(tempfile.mkdtemp(prefix="bt-bench-")) / "logs")
    cluster.start()
    latencies: list[float] = []
    try:
        await asyncio.to_thread(cluster.wait_http, f"{sim_url}/api/v3/ping", 60, "exchange-simulator")
        for spec in specs[1:]:
            await asyncio.to_thread(cluster.wait_ready, spec.name, 300)
        start_ms = int(datetime.fromisoformat(args.start).replace(tzinfo=UTC).timestamp() * 1000)
        async with httpx.AsyncClient(base_url=sim_url, timeout=30) as http:
            symbols = (await http.get("/sim/status")).json()["symbols"]
            # the first day only brings everything in step (warm-up already covered up to the start)
            for day in range(1, args.days + 1):
                close_ms = start_ms + day * DAY
                await http.post("/sim/advance", params={"to": close_ms})
                t0 = time.perf_counter()
                candle_open = close_ms - DAY
                deadline = t0 + (10 if day == 1 else 30)
                while time.perf_counter() < deadline:
                    if all((s, candle_open) in arrivals for s in symbols):
                        break
                    await asyncio.sleep(0.0005)
                else:
                    if day > 1:
                        raise SystemExit(f"day {day}: not every market was evaluated within 30 s")
                if day == 1:  # markets not listed yet at the start have no candle to evaluate
                    symbols = [s for s in symbols if (s, candle_open) in arrivals]
                if day > 1:
                    latencies += [(arrivals[(s, candle_open)] - t0) * 1000 for s in symbols]
    finally:
        cluster.stop()
        await consumer.stop()
        await bus.close()
    pct = percentiles(latencies, (50, 90, 99))
    result = {
        "benchmark": "candle_close_to_edge70_published",
        "hops": [
            "simulator ws",
            "candle-ingestion x2 (publish with confirm, dedup downstream)",
            "RabbitMQ quorum",
            "edge70-signals (evaluate, publish_many with confirms, Redis state)",
            "RabbitMQ quorum",
            "observer",
        ],
        "markets": len(symbols),
        "days": args.days - 1,
        "samples": len(latencies),
        "signals_in_window": len(signal_keys),
        "latency_ms": {k: round(v, 2) for k, v in pct.items()},
    }
    print(
        f"candle close → edge70 decision published: {len(latencies)} samples over {args.days - 1} closes × "
        f"{len(symbols)} markets ({len(signal_keys)} signals)"
    )
    print("  p50 {p50:.2f} ms   p90 {p90:.2f} ms   p99 {p99:.2f} ms".format(**pct))
    print(f"  written to {write_result('signal_latency', result)}")


if __name__ == "__main__":
    asyncio.run(main())
