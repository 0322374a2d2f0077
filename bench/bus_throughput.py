"""Bus throughput on the real broker: pipelined confirmed publishes and batched, Redis-deduplicated consumption.

    .venv/bin/python bench/bus_throughput.py [-n 50000] [--runs 3] [--prefetch 1000]

Needs RabbitMQ (AMQP_URL) and Redis (REDIS_URL).  Each run uses a fresh quorum queue (declared with the
production arguments through `AmqpBus.declare`) bound to `bt.market-data` with a unique routing key, and a
fresh dedup scope.  Prints events/s (median of the runs) for:

- publish, await each confirm (baseline)   — `publish()` in a loop, on a smaller sample;
- publish-only, pipelined confirms          — `publish_many()`;
- consume-only                              — a pre-filled queue drained with ack + dedup;
- end-to-end                                — publish_many and consume concurrently.

Writes bench/results/bus_throughput.json.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import structlog
from _common import median, print_table, write_result

from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Delivery, Subscription
from binance_tool.config.settings import BusSettings, RedisSettings
from binance_tool.events import CandleClosed, Envelope, Market
from binance_tool.runtime import _event_loop_runner
from binance_tool.state.idempotency import RedisIdempotencyStore

MARKET = Market.spot("BTC", "USDT")


def candles(n: int, interval: str) -> list[Envelope]:
    corr = uuid.uuid4()
    return [
        CandleClosed(
            event_id=uuid.uuid4(),
            correlation_id=corr,
            ts_event_ms=i,
            ts_init_ms=i,
            market=MARKET,
            interval=interval,
            open_time_ms=i * 60_000,
            close_time_ms=i * 60_000 + 59_999,
            open=Decimal("64000.10"),
            high=Decimal("64100.55"),
            low=Decimal("63900.01"),
            close=Decimal("64050.00"),
            volume=Decimal("12.3456"),
            quote_volume=Decimal("790000.12"),
            trades=1234,
        )
        for i in range(n)
    ]


class Counter:
    def __init__(self, target: int) -> None:
        self.n = 0
        self.target = target
        self.done = asyncio.Event()

    async def __call__(self, event: Envelope, delivery: Delivery) -> None:
        self.n += 1
        if self.n >= self.target:
            self.done.set()


async def one_run(bus: AmqpBus, n: int, baseline_n: int, prefetch: int) -> dict[str, float]:
    tag = uuid.uuid4().hex[:10]
    interval = f"bench{tag}"  # unique routing key: only this run's queue gets these events
    sub = Subscription(
        queue=f"bench.bus-throughput.{tag}",
        bindings=(Binding("bt.market-data", f"candle.closed.{interval}.#"),),
        accepts=(CandleClosed,),
        prefetch=prefetch,
    )
    await bus.declare([sub])
    out: dict[str, float] = {}
    try:
        events = candles(n, interval)
        t = time.perf_counter()
        for e in events[:baseline_n]:
            await bus.publish(e)
        out["publish_await_each"] = baseline_n / (time.perf_counter() - t)
        rest = events[baseline_n:]
        t = time.perf_counter()
        await bus.publish_many(rest)
        out["publish_pipelined"] = len(rest) / (time.perf_counter() - t)

        counter = Counter(n)
        t = time.perf_counter()
        handle = await bus.consume(sub, counter)
        await asyncio.wait_for(counter.done.wait(), 120)
        out["consume_dedup"] = n / (time.perf_counter() - t)

        e2e = candles(n, interval)
        counter2 = Counter(n)
        await handle.stop()
        handle = await bus.consume(sub, counter2)
        t = time.perf_counter()
        await asyncio.gather(bus.publish_many(e2e), asyncio.wait_for(counter2.done.wait(), 120))
        out["end_to_end"] = n / (time.perf_counter() - t)
        await handle.stop()
    finally:
        channel = await bus.connection.channel()
        await channel.queue_delete(sub.queue)
        await channel.close()
    return out


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-n", type=int, default=50_000, help="events per run (default 50000)")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--prefetch", type=int, default=1000)
    parser.add_argument("--baseline", type=int, default=2000, help="events published one confirm at a time")
    args = parser.parse_args()
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up only

    store = RedisIdempotencyStore.from_url(RedisSettings().redis_url.get_secret_value())
    bus = AmqpBus(BusSettings(), store, "bench")
    await bus.connect()
    runs = []
    try:
        for i in range(args.runs):
            r = await one_run(bus, args.n, args.baseline, args.prefetch)
            runs.append(r)
            print(f"run {i + 1}: " + ", ".join(f"{k}={v:,.0f}/s" for k, v in r.items()), flush=True)
    finally:
        await bus.close()
        await store.close()
    labels = {
        "publish_await_each": f"publish, await each confirm ({args.baseline} events)",
        "publish_pipelined": "publish_many, pipelined confirms",
        "consume_dedup": "consume, ack + Redis dedup (pre-filled queue)",
        "end_to_end": "end-to-end (publish and consume concurrently)",
    }
    medians = {k: median([r[k] for r in runs]) for k in labels}
    print()
    print_table(
        ["scenario", "events/s (median)", "min", "max", "≥ 10k/s"],
        [
            [
                labels[k],
                medians[k],
                min(r[k] for r in runs),
                max(r[k] for r in runs),
                "-" if k == "publish_await_each" else ("yes" if medians[k] >= 10_000 else "NO"),
            ]
            for k in labels
        ],
    )
    path = write_result(
        "bus_throughput",
        {"events_per_run": args.n, "runs": runs, "median_events_per_s": medians, "prefetch": args.prefetch},
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    _event_loop_runner()(main())  # uvloop, as the services run (binance_tool.runtime)
