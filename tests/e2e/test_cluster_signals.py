"""End to end: simulator → 2 candle-ingestion replicas → edge70-signals, as separate processes on the real
RabbitMQ and Redis.  The signals on the bus must equal the CLI's pure computation on the same data, every
candle must be evaluated exactly once, through websocket drops and a replica killed mid-stream."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Subscription
from binance_tool.config import BusSettings
from binance_tool.events import CandleClosed, Edge70CandleEvaluated, Edge70Signal, SendUserMessage
from binance_tool.state.idempotency import RedisIdempotencyStore
from cli.cluster import ClusterConfig, LocalCluster, cluster_specs
from cli.resets import reset_bus_and_state

pytestmark = pytest.mark.e2e
DAY = 86_400_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "LINKUSDT", "SOLUSDT"]
START, END = "2020-07-01", "2021-01-01"


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


OBSERVER = Subscription(
    queue=f"e2e-observer-{uuid.uuid4().hex[:8]}",  # this run's own queue: nothing left over from other tests
    bindings=(
        Binding(CandleClosed.EXCHANGE, "#"),
        Binding(Edge70Signal.EXCHANGE, "#"),
        Binding(SendUserMessage.EXCHANGE, "#"),
    ),
    accepts=(CandleClosed, Edge70Signal, Edge70CandleEvaluated, SendUserMessage),
    prefetch=200,
    extra_arguments={"x-expires": 120_000},
)


async def test_cluster_signals_equal_the_cli_computation_with_drops_and_a_killed_replica(
    shared_data: Path, amqp_url: str, redis_url: str, tmp_path: Path
):
    from redis.asyncio import Redis

    await reset_bus_and_state(amqp_url, redis_url)
    redis = Redis.from_url(redis_url)
    bus = AmqpBus(BusSettings(amqp_url=amqp_url), RedisIdempotencyStore(redis), "e2e-test")
    await bus.connect()
    await bus.declare([OBSERVER])
    seen: dict[str, list] = defaultdict(list)

    async def observe(event, delivery):
        seen[type(event).__name__].append(event)

    consumer = await bus.consume(OBSERVER, observe)
    cfg = ClusterConfig(
        amqp_url=amqp_url,
        redis_url=redis_url,
        data_dir=str(shared_data),
        start=START,
        end=END,
        speed=8 * 86_400,
        symbols=",".join(SYMBOLS),
        log_level="INFO",
        extra_env=(("SIM_FAULT_WS_DROP_EVERY", "2000"),),
        trading=False,  # this test is about candles and signals; the execution path has its own (fewer processes)
    )
    specs, sim_url = cluster_specs(cfg)
    cluster = LocalCluster(specs, tmp_path / "logs")
    cluster.start()
    try:
        await asyncio.to_thread(cluster.wait_http, f"{sim_url}/api/v3/ping", 60, "exchange-simulator")
        for spec in specs[1:]:
            await asyncio.to_thread(cluster.wait_ready, spec.name, 120)
        await asyncio.sleep(4)
        cluster.kill("candle-ingestion-a")  # SIGKILL one replica mid-stream; the other carries on alone
        last_open = ms(END) - DAY
        deadline = time.monotonic() + 150
        while time.monotonic() < deadline:
            by_symbol = defaultdict(set)
            for e in seen["Edge70CandleEvaluated"]:
                by_symbol[e.market.symbol].add(e.candle_open_time_ms)
            # done when each market's evaluations reach the end with no hole (a redelivery may arrive late)
            if all(
                by_symbol[s]
                and last_open in by_symbol[s]
                and len(by_symbol[s]) == (last_open - min(by_symbol[s])) // DAY + 1
                for s in SYMBOLS
            ):
                break
            assert not [n for n in cluster.failed() if n != "candle-ingestion-a"], cluster.status()
            await asyncio.sleep(0.5)
        else:
            pytest.fail(f"cluster did not evaluate up to {END}; logs in {tmp_path / 'logs'}")
        await asyncio.sleep(1)
    finally:
        cluster.stop()
        await consumer.stop()
        await bus.close()
        await redis.aclose()

    # every candle evaluated exactly once per market, with no gap, up to the end
    evaluated = defaultdict(list)
    for e in seen["Edge70CandleEvaluated"]:
        evaluated[e.market.symbol].append(e.candle_open_time_ms)
    first_live = {}
    for symbol in SYMBOLS:
        times = sorted(evaluated[symbol])
        assert len(times) == len(set(times)), f"{symbol} evaluated a candle twice"
        assert times == list(range(times[0], last_open + DAY, DAY)), f"{symbol} has evaluation gaps"
        first_live[symbol] = times[0]
    # each closed candle reached downstream once (dedup on the deterministic event id), in spite of 2 replicas
    candle_keys = [(c.market.symbol, c.open_time_ms) for c in seen["CandleClosed"]]
    assert len(candle_keys) == len(set(candle_keys))
    assert any(c.source == "rest-backfill" for c in seen["CandleClosed"]), "drops should have forced back-fills"

    # the signals on the bus equal the CLI's output on the same data, for the candles evaluated live
    cli = subprocess.run(
        [
            str(Path(sys.executable).parent / "binance-tool"),
            "edge70",
            "signals",
            "--candles-dir",
            str(shared_data / "1d"),
            "--symbols",
            ",".join(SYMBOLS),
            "--format",
            "jsonl",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    expected = [json.loads(line) for line in cli.stdout.splitlines()]
    expected = [
        r | {"signal_price": Decimal(r["signal_price"])}
        for r in expected
        if first_live[r["symbol"]] <= r["candle_open_time"] <= last_open
    ]
    got = sorted(
        (
            {
                "symbol": s.market.symbol,
                "direction": s.direction.value,
                "previous_direction": s.previous_direction.value,
                "candle_open_time": s.candle_open_time_ms,
                "signal_price": Decimal(s.signal_price),
                "signal_timestamp_ms": s.signal_timestamp_ms,
            }
            for s in seen["Edge70Signal"]
        ),
        key=lambda r: (r["candle_open_time"], r["symbol"]),
    )
    assert expected, "the window should contain signals"
    assert got == expected
