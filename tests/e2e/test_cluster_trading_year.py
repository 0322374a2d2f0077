"""End to end, trading: a year of real daily/hourly data replayed through the whole cluster on the simulator —
2 candle-ingestion replicas → edge70-signals → position-sizer → trade-abstraction → simulator → 2 order-ingestion
replicas → trackers, plus the position checker — as separate processes on the real RabbitMQ and Redis.

At the end the trackers' state must agree with the exchange: every simulator trade tracked exactly once, every
order's final status, the balances of the portfolio-tracker equal to the simulator's account, the position checker
reporting zero mismatches, and the realised P&L equal to the sum computed here, independently, from the
simulator's own trade list.  The second test does the same with the trackers SIGKILLed and restarted mid-way."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
import uuid
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Subscription
from binance_tool.config import BusSettings, load_settings
from binance_tool.config.settings import ExchangeSettings
from binance_tool.events import PositionChanged, PositionMismatchFound, PositionsChecked
from binance_tool.exchange.binance_execution import BinanceSpot
from binance_tool.exchange.execution import TradeRecord
from binance_tool.state.idempotency import RedisIdempotencyStore
from cli.cluster import BIN, ClusterConfig, LocalCluster, cluster_specs
from cli.resets import reset_bus_and_state
from services.exchange_simulator.settings import DEV_API_KEY, DEV_API_SECRET

pytestmark = pytest.mark.e2e
SYMBOLS = ["BTCUSDT", "ETHUSDT", "BNBUSDT", "ADAUSDT", "DOGEUSDT", "LINKUSDT", "SOLUSDT", "MATICUSDT"]
START, END = "2021-01-01", "2022-01-01"
SPEED = 10 * 86_400  # ten simulated days per second: the year in ~37 s
ZERO = Decimal(0)


def realised_from_trade_list(trades: list[TradeRecord], base: str, quote: str) -> tuple[Decimal, Decimal]:
    """(realised P&L, base held) of one symbol's trade list, average-cost method, net of fees — computed here
    without the tracking code: fees in the quote asset are costs, fees in the base asset reduce what is held."""
    held, cost, realised = ZERO, ZERO, ZERO
    for t in sorted(trades, key=lambda t: (t.time_ms, t.trade_id)):
        fee_quote = t.commission if t.commission_asset == quote else ZERO
        fee_base = t.commission if t.commission_asset == base else ZERO
        assert t.commission_asset in (base, quote) or not t.commission, f"unexpected fee asset {t.commission_asset}"
        if t.is_buyer:
            held += t.quantity - fee_base
            cost += t.quantity * t.price + fee_quote
        else:
            sold = t.quantity + fee_base
            assert sold <= held, f"{t.symbol} trade {t.trade_id} sells more than was bought"
            out = cost if sold == held else cost * sold / held  # selling everything takes the whole cost
            realised += t.quantity * t.price - out - fee_quote
            held -= sold
            cost -= out
    return realised, held


async def exchange_view(sim_url: str) -> tuple[dict[str, list[TradeRecord]], dict, dict]:
    settings = load_settings(
        ExchangeSettings, exchange="simulator", simulator_url=sim_url,
        binance_api_key=DEV_API_KEY, binance_api_secret=DEV_API_SECRET,
    )  # fmt: skip
    async with BinanceSpot(settings) as exchange:
        trades = {s: await exchange.my_trades(s, 0) for s in SYMBOLS}
        orders = {s: await exchange.all_orders(s, 0) for s in SYMBOLS}
        return trades, orders, await exchange.balances()


async def tracked_view(redis_url: str, account: str) -> tuple[dict, dict, dict]:
    from redis.asyncio import Redis

    from services.trackers.portfolio_store import RedisPortfolioStore
    from services.trackers.store import RedisTrackerStore

    redis = Redis.from_url(redis_url)
    try:
        store = RedisTrackerStore(redis)
        orders = {s: await store.orders(account, s) for s in SYMBOLS}
        records = await store.positions(account)
        balances = await RedisPortfolioStore(redis).balances(account)
        return orders, {r.key: r for r in records}, balances
    finally:
        await redis.aclose()


def observer() -> Subscription:
    return Subscription(
        queue=f"e2e-trading-observer-{uuid.uuid4().hex[:8]}",  # this run's own queue
        bindings=(Binding(PositionChanged.EXCHANGE, "#"),),  # position events and the checker's reports
        accepts=(PositionChanged, PositionMismatchFound, PositionsChecked),
        prefetch=200,
        extra_arguments={"x-expires": 120_000},
    )


async def performance_totals(redis_url: str) -> tuple[int, Decimal]:
    from redis.asyncio import Redis

    from services.performance.queries import edge_view

    redis = Redis.from_url(redis_url)
    try:
        real = (await edge_view(redis, "edge70")).book.all_time.real
        return real.closed, real.pnl_sum
    finally:
        await redis.aclose()


async def run_year(
    shared_data: Path, amqp_url: str, redis_url: str, logs: Path, kill_trackers_after_s: float | None
) -> None:
    await reset_bus_and_state(amqp_url, redis_url)
    account = f"e2e-{uuid.uuid4().hex[:8]}"
    cfg = ClusterConfig(
        amqp_url=amqp_url,
        redis_url=redis_url,
        data_dir=str(shared_data),
        start=START,
        end=END,
        speed=SPEED,
        symbols=",".join(SYMBOLS),
        log_level="INFO",
        # checks every 5 s, a mismatch confirmed by a re-check 5 s later: the trackers lag the exchange by
        # milliseconds, so only a real mismatch survives that (50 replayed days)
        extra_env=(
            ("CHECKER_INTERVAL_S", "5"),
            ("CHECKER_CONFIRM_DELAY_S", "5"),
            # this run's own account name: events of other tests on the same broker are told apart
            *((f"{svc}_ACCOUNT", account) for svc in ("ORDER_INGESTION", "TRACKERS", "CHECKER", "PERFORMANCE")),
        ),
    )
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    bus = AmqpBus(BusSettings(amqp_url=amqp_url), RedisIdempotencyStore(redis), "e2e-trading-test")
    await bus.connect()
    watch = observer()
    await bus.declare([watch])
    seen: dict[str, list] = {"PositionChanged": [], "PositionMismatchFound": [], "PositionsChecked": []}

    async def observe(event, delivery):
        if getattr(event, "account", None) == account:
            seen[type(event).__name__].append(event)

    consumer = await bus.consume(watch, observe)
    specs, sim_url = cluster_specs(cfg)
    cluster = LocalCluster(specs, logs)
    cluster.start()
    try:
        await asyncio.to_thread(cluster.wait_http, f"{sim_url}/api/v3/ping", 60, "exchange-simulator")
        for spec in specs[1:]:
            await asyncio.to_thread(cluster.wait_ready, spec.name, 120)
        started, killed = time.monotonic(), False
        async with httpx.AsyncClient(timeout=5) as http:
            while not (await http.get(f"{sim_url}/sim/status")).json()["finished"]:
                if (
                    kill_trackers_after_s is not None
                    and not killed
                    and time.monotonic() - started > kill_trackers_after_s
                ):
                    cluster.kill("trackers", signal.SIGKILL)  # mid-way, with reports in flight
                    await asyncio.sleep(1.5)
                    cluster.start_one(cluster.spec("trackers"))
                    killed = True
                assert not cluster.failed(), f"{cluster.status()}; logs in {logs}"
                assert time.monotonic() - started < 240, f"the replay did not finish; logs in {logs}"
                await asyncio.sleep(0.5)
        assert kill_trackers_after_s is None or killed
        await asyncio.to_thread(cluster.wait_ready, "trackers", 60)

        # settle: every trade and final order state of the exchange reaches the trackers
        deadline, exchange_read_at = time.monotonic() + 60, 0.0
        while True:
            if time.monotonic() - exchange_read_at > 5:  # the exchange's request weight is limited: every 5 s
                trades, orders, balances = await exchange_view(sim_url)
                exchange_read_at = time.monotonic()
            tracked_orders, positions, tracked_balances = await tracked_view(redis_url, account)
            # order and trade ids are per symbol on Binance
            exchange_fills = {(t.symbol, t.trade_id) for ts in trades.values() for t in ts}
            tracked_fills = {(r.filters.symbol, tid) for r in positions.values() for tid in r.fills}
            final = {(o.symbol, o.order_id, o.status.value, o.executed_qty) for os_ in orders.values() for o in os_}
            tracked = {
                (o.symbol, o.order_id, o.status.value, o.executed_qty) for os_ in tracked_orders.values() for o in os_
            }
            held = {a: b.total for a, b in balances.items() if b.total}
            tracked_held = {a: b.total for a, b in tracked_balances.items() if b.total}
            if exchange_fills == tracked_fills and final <= tracked and held == tracked_held:
                break
            assert time.monotonic() < deadline, (
                f"trackers did not catch up: fills missing {sorted(exchange_fills - tracked_fills)[:10]}, "
                f"orders differing {sorted(final - tracked)[:5]} vs {sorted(tracked - final)[:5]}, "
                f"balances {held} vs {tracked_held}; logs in {logs}"
            )
            await asyncio.sleep(1)

        n_trades = sum(len(ts) for ts in trades.values())
        assert n_trades >= 20, f"a year of edge70 on {len(SYMBOLS)} markets should trade; got {n_trades}"
        assert sum(1 for os_ in orders.values() for o in os_ if o.type.value == "STOP_LOSS_LIMIT") >= 5

        # realised P&L of the trackers = the sum computed from the simulator's trade list, symbol by symbol exactly
        # (totals are summed in the same symbol order: Decimal sums at 28 digits depend on the order)
        expected_total, total = ZERO, ZERO
        assert {k.base_asset for k in positions} <= {s.removesuffix("USDT") for s in trades}
        for symbol, ts in trades.items():
            base = symbol.removesuffix("USDT")
            expected, expected_held = realised_from_trade_list(ts, base, "USDT")
            expected_total += expected
            mine = [r.position for k, r in positions.items() if k.base_asset == base]
            assert sum((p.realised_pnl for p in mine), ZERO) == expected, symbol
            total += sum((p.realised_pnl for p in mine), ZERO)
            assert sum((p.quantity for p in mine), ZERO) == expected_held, symbol
            assert all(p.unmatched_sell_qty == 0 for p in mine), symbol
        assert total == expected_total

        # the position checker (one check now, as the CLI runs it) finds nothing
        env_file = logs / "cluster.env"
        env_file.write_text(
            f"EXCHANGE=simulator\nSIMULATOR_URL={sim_url}\nREDIS_URL={redis_url}\n"
            f"BINANCE_API_KEY={DEV_API_KEY}\nBINANCE_API_SECRET={DEV_API_SECRET}\n"
        )
        checked = subprocess.run(
            [str(BIN / "binance-tool"), "check-positions", "--env-file", str(env_file), "--account", account],
            capture_output=True, text=True, timeout=60, env={**os.environ, "COLUMNS": "200"},
        )  # fmt: skip
        assert checked.returncode == 0, checked.stdout + checked.stderr
        open_positions = [r.position for r in positions.values() if not r.position.closed]
        print(
            f"\n{n_trades} trades, {len(open_positions)} open positions at the end, "
            f"realised P&L {total.quantize(Decimal('0.01'))} USDT"
        )

        # the checker ran all along without confirming a single mismatch
        assert len(seen["PositionsChecked"]) >= 3 and not seen["PositionMismatchFound"], seen["PositionMismatchFound"]
        assert all(c.mismatch_count == 0 for c in seen["PositionsChecked"])

        # edge performance: every closed position counted once, with the realised P&L of its holding period
        # one close per holding period: a late fill (e.g. redelivered after the SIGKILL) may publish a corrected
        # close of the same period, which replaces the first (the one knowing more fills wins)
        closed_events: dict[tuple, PositionChanged] = {}
        for e in (e for e in seen["PositionChanged"] if e.change == "closed"):
            period = (e.base_asset, e.edge, e.opened_at_ms)
            if period not in closed_events or e.fills_known > closed_events[period].fills_known:
                closed_events[period] = e
        closed_periods = sum((e.period_realised_pnl for e in closed_events.values()), ZERO)
        deadline = time.monotonic() + 30
        while (counted := await performance_totals(redis_url))[0] != len(closed_events):
            assert time.monotonic() < deadline, f"performance counted {counted}, {len(closed_events)} closed"
            await asyncio.sleep(0.5)
        assert abs(counted[1] - closed_periods) < Decimal("0.000001") * max(len(closed_events), 1)
        open_realised = sum((p.period_realised_pnl for p in open_positions), ZERO)
        assert abs(closed_periods + open_realised - total) < Decimal("0.000001")
        assert not [n for n in cluster.failed()], cluster.status()
    finally:
        cluster.stop()
        await consumer.stop()
        await bus.close()
        await redis.aclose()


def _own(redis_url: str) -> str:
    """This test's own Redis database (it flushes it), next to the tests' one."""
    base, _, db = redis_url.rpartition("/")
    return f"{base}/{int(db or 0) + 1}"


async def test_a_year_through_the_whole_cluster_agrees_with_the_exchange(
    shared_data: Path, amqp_url: str, redis_url: str, tmp_path: Path
):
    await run_year(shared_data, amqp_url, _own(redis_url), tmp_path / "logs", kill_trackers_after_s=None)


async def test_the_same_year_with_the_trackers_sigkilled_and_restarted_mid_way(
    shared_data: Path, amqp_url: str, redis_url: str, tmp_path: Path
):
    await run_year(shared_data, amqp_url, _own(redis_url), tmp_path / "logs", kill_trackers_after_s=15)
