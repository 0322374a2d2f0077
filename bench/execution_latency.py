"""Signal published → entry order accepted by the exchange, through the running processes on loopback, and the
Trade Abstraction Service's request rate.

Processes: exchange simulator (paused, funded), trade-abstraction, position-sizer (as in `make demo`).  The bench
publishes Edge70Signals to RabbitMQ at a steady rate (long then short per market, so every long is a new entry)
and watches the exchange's own user data stream (WebSocket API) for the entry's `executionReport` NEW:

    bench ─publish (confirm)→ RabbitMQ ─→ position-sizer (dedup, balances + TAS positions + prices, size)
      ─HTTP→ TAS (idempotency, trade claim in Redis) ─REST→ simulator (order accepted) ─user stream→ bench

    .venv/bin/python -m bench.execution_latency [--rate 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
from pydantic import SecretStr

from bench._common import percentiles, print_table, write_result
from binance_tool.bus.amqp import AmqpBus
from binance_tool.config import BusSettings
from binance_tool.config.settings import ExchangeKind, ExchangeSettings
from binance_tool.events import Direction, Edge70Parameters, Edge70Signal, Market
from binance_tool.exchange.binance_execution import BinanceSpot
from binance_tool.exchange.execution import ExecutionReport, client_order_id
from binance_tool.state.idempotency import InMemoryIdempotencyStore
from cli.cluster import BIN, LocalCluster, ProcessSpec, free_port, trading_specs
from cli.resets import reset_bus_and_state
from services.exchange_simulator.settings import DEV_API_KEY, DEV_API_SECRET

SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "ADAUSDT", "XRPUSDT", "DOGEUSDT", "DOTUSDT", "LINKUSDT", "LTCUSDT",
           "BCHUSDT", "XLMUSDT", "ETCUSDT", "TRXUSDT", "EOSUSDT", "VETUSDT", "ATOMUSDT"]  # fmt: skip


def signal(symbol: str, direction: Direction, price: Decimal) -> Edge70Signal:
    eid = uuid.uuid4()
    return Edge70Signal(
        event_id=eid,
        correlation_id=eid,
        ts_event_ms=1,
        ts_init_ms=1,
        parameters=Edge70Parameters(),
        market=Market.spot(symbol[:-4], "USDT"),
        direction=direction,
        previous_direction=Direction.SHORT if direction is Direction.LONG else Direction.LONG,
        signal_price=price,
        signal_timestamp_ms=1,
        candle_open_time_ms=0,
    )


async def tas_rate(url: str, token: str, seconds: float, concurrency: int = 8) -> float:
    """GET /spot/positions requests per second (authenticated, reads the trade store)."""
    done = 0
    deadline = time.perf_counter() + seconds
    async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}) as http:

        async def worker() -> None:
            nonlocal done
            while time.perf_counter() < deadline:
                (await http.get("/spot/positions")).raise_for_status()
                done += 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return done / (time.perf_counter() - started)


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=50.0, help="signals per second")
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/binance-spot"))
    ap.add_argument("--amqp-url", default="amqp://guest:guest@127.0.0.1:5672/bt-test")
    ap.add_argument("--redis-url", default="redis://127.0.0.1:6379/5")
    ap.add_argument("--log-level", default="WARNING", help="of the processes (logs in a temporary directory)")
    args = ap.parse_args()
    await reset_bus_and_state(args.amqp_url, args.redis_url)
    sim_port = free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    common = {"AMQP_URL": args.amqp_url, "REDIS_URL": args.redis_url, "EXCHANGE": "simulator",
              "SIMULATOR_URL": sim_url, "LOG_LEVEL": args.log_level, "SIZER_MAX_OPEN_POSITIONS": "1000",
              "SIZER_MAX_OPEN_PORTFOLIO_RISK": "1", "SIZER_RISK_PER_TRADE": "0.001"}  # fmt: skip
    sim_env = {"SIM_PORT": str(sim_port), "SIM_DATA_DIR": args.data_dir, "SIM_START": "2021-03-01", "SIM_SPEED": "0",
               "SIM_SYMBOLS": ",".join(SYMBOLS), "SIM_BALANCES": "USDT=100000000", "LOG_LEVEL": "WARNING"}  # fmt: skip
    specs = [ProcessSpec("exchange-simulator", [str(BIN / "bt-exchange-simulator")], sim_env)]
    specs += [s for s in trading_specs(common) if s.name in ("trade-abstraction", "position-sizer")]
    log_dir = Path(tempfile.mkdtemp(prefix="bt-exec-bench-")) / "logs"
    cluster = LocalCluster(specs, log_dir)
    cluster.start()
    bus = AmqpBus(BusSettings(amqp_url=args.amqp_url), InMemoryIdempotencyStore(), "bench")
    exchange = BinanceSpot(
        ExchangeSettings(exchange=ExchangeKind.SIMULATOR, simulator_url=sim_url,
                         binance_api_key=SecretStr(DEV_API_KEY), binance_api_secret=SecretStr(DEV_API_SECRET))
    )  # fmt: skip
    accepted: dict[str, float] = {}
    try:
        await asyncio.to_thread(cluster.wait_http, f"{sim_url}/api/v3/ping", 60.0, "exchange-simulator")
        for spec in specs[1:]:
            await asyncio.to_thread(cluster.wait_ready, spec.name, 120.0)
        await bus.connect()
        await bus.declare()
        prices = await exchange.prices(SYMBOLS)

        async def watch() -> None:
            async for event in exchange.user_events():
                if isinstance(event, ExecutionReport) and event.execution_type == "NEW" and event.side.value == "BUY":
                    accepted.setdefault(event.client_order_id, time.perf_counter())

        watcher = asyncio.create_task(watch())
        await asyncio.sleep(1.0)  # the user stream subscription is in place
        sent: dict[str, float] = {}
        interval = 1.0 / args.rate
        n = int(args.seconds * args.rate)
        start = time.perf_counter()
        for i in range(n):
            symbol = SYMBOLS[(i // 2) % len(SYMBOLS)]
            direction = Direction.LONG if i % 2 == 0 else Direction.SHORT
            event = signal(symbol, direction, prices[symbol])
            await asyncio.sleep(max(0.0, start + i * interval - time.perf_counter()))
            if direction is Direction.LONG:
                sent[client_order_id("edge70", str(event.event_id), "entry")] = time.perf_counter()
            await bus.publish(event)
        await asyncio.sleep(3.0)
        watcher.cancel()
        latencies = [(accepted[k] - t) * 1000 for k, t in sent.items() if k in accepted]
        tas = next(s for s in specs if s.name == "trade-abstraction")
        token = next(s for s in specs if s.name == "position-sizer").env["TAS_TOKEN"]
        rate = await tas_rate(f"http://127.0.0.1:{tas.health_port}", token, 5.0)
    finally:
        await exchange.close()
        await bus.close()
        await asyncio.to_thread(cluster.stop)
    stats = percentiles(latencies, (50, 90, 99)) if latencies else {}
    result = {
        "signals_per_s": args.rate,
        "signals": n,
        "entries_sent": len(sent),
        "entries_accepted": len(latencies),
        "latency_ms": {k: round(v, 2) for k, v in stats.items()},
        "latency_ms_max": round(max(latencies), 2) if latencies else None,
        "tas_get_positions_per_s": round(rate),
        "hops": "bench publish (confirm) → RabbitMQ → position-sizer (dedup; balances, TAS positions, prices) → "
        "HTTP → TAS (idempotency + claim in Redis) → REST → simulator accepts → user stream → bench",
        "logs": str(log_dir),
    }
    print_table(["entries", "accepted", "p50 ms", "p90 ms", "p99 ms", "max ms", "TAS GET/s"],
                [[len(sent), len(latencies), stats.get("p50", 0.0), stats.get("p90", 0.0), stats.get("p99", 0.0),
                  result["latency_ms_max"] or 0.0, rate]])  # fmt: skip
    print(f"wrote {write_result(f'execution_latency_r{args.rate:g}', result)}")


if __name__ == "__main__":
    asyncio.run(main())
