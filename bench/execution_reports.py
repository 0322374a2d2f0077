"""Execution reports processed per second end to end: order ingestion ×2 → RabbitMQ → trackers (dedup) → Redis.

    .venv/bin/python -m bench.execution_reports [-n 10000] [--replicas 2] [--runs 3] [--symbols 24]
        [--concurrency 32] [--prefetch 50] [--rate 0] [--profile] [--result-name execution_reports]
        [--amqp-url …/bt-bench] [--redis-url …/5]

What runs (one OS process each, as in production; `multiprocessing` with spawn):

- `--replicas` order-ingestion processes: the real `services.order_ingestion.main.build` (real `AmqpBus` with
  publisher confirms, Redis order cursors) around `StreamAccount`, an `AccountData` fake whose `user_events()`
  yields the generated `ExecutionReport`s once the bench says go (its REST back-fill answers are empty).  Every
  replica sees the whole stream and publishes each report (same deterministic event ids), as two replicas do.
- one trackers process: the real `services.trackers.main.build` (real `AmqpBus`, `RedisTrackerStore`,
  `StaticFilters`) consuming the production subscription (`trackers.execution-reports`, quorum, Redis dedup), as
  `services.trackers.main.main` does; its handler is wrapped only to count and time what it handled.

The stream (`generate_stream`, seeded): many orders on many symbols interleaved as on a busy account — NEW, one
to four TRADE fills with per-symbol trade ids (the last one FILLED), some LIMIT orders CANCELED after zero to two
partial fills; buys and sells so that positions open, increase, reduce and close; edge70 client order ids
(`client_order_id`) and manual ones (`web_…`, no edge), one active order per (symbol, edge) position.

Measured per run: reports published (all replicas) and unique; from the first report handed to a replica to the
last unique report handled by the trackers (its Redis writes done); unique reports/s end to end, published/s,
per-report latency (the replica's `ts_init_ms` just before its publish → the trackers' handler returned, wall
clocks of one machine, ms resolution; flat out it is mostly the backlog, `--rate` feeds each replica at a steady
rate to see the path itself), dedup drops (published − handled).  After each run the Redis state is
checked against what the stream implies, computed independently of the trackers: every order's status, executed
and quote quantity, client order id and trade ids; every position's fills, `position_from_fills` of the
generated fills, and its quantity from the generator's own ledger.  A run with a problem fails the benchmark.

Isolation: a dedicated RabbitMQ vhost (`bt-bench`, created with rabbitmqctl when missing; the queue name is fixed,
it is deleted before each run; a quorum queue `bench.position-changes` stands for the consumers of the trackers'
`PositionChanged`, so their publishes are confirmed after a queue write as in production), a dedicated Redis db
(5), a unique account per run (its keys deleted afterwards).  Median of the runs; writes
bench/results/execution_reports.json.  `--profile` runs cProfile in the trackers process of the first run and
prints where its time goes.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import io
import os
import pstats
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from bench._common import median, percentiles, print_table, write_result
from binance_tool.exchange.execution import (
    Balance,
    ExecutionReport,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    TradeRecord,
    UserEvent,
    client_order_id,
)
from binance_tool.runtime import _event_loop_runner
from binance_tool.tracking import PositionFill, position_from_fills
from binance_tool.trading.filters import SymbolFilters

DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/bt-bench"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
QUOTE = "USDT"
FEE_RATE = Decimal("0.001")
COMMISSION_GRID = Decimal("1E-8")

# (base asset, price, step size, tick size): a realistic spread of magnitudes.
ASSETS: list[tuple[str, str, str, str]] = [
    ("BTC", "64000", "0.00001", "0.01"), ("ETH", "3200", "0.0001", "0.01"), ("BNB", "600", "0.001", "0.1"),
    ("SOL", "150", "0.001", "0.01"), ("XRP", "0.6", "0.1", "0.0001"), ("ADA", "0.45", "0.1", "0.0001"),
    ("DOGE", "0.15", "1", "0.00001"), ("DOT", "7", "0.01", "0.001"), ("LINK", "15", "0.01", "0.001"),
    ("LTC", "85", "0.001", "0.01"), ("BCH", "400", "0.001", "0.1"), ("XLM", "0.11", "1", "0.00001"),
    ("ETC", "25", "0.01", "0.001"), ("TRX", "0.12", "1", "0.00001"), ("EOS", "0.8", "0.1", "0.0001"),
    ("VET", "0.03", "1", "0.000001"), ("ATOM", "9", "0.01", "0.001"), ("AVAX", "35", "0.01", "0.01"),
    ("NEAR", "5", "0.1", "0.001"), ("FIL", "6", "0.01", "0.001"), ("UNI", "8", "0.01", "0.001"),
    ("AAVE", "95", "0.001", "0.01"), ("MATIC", "0.7", "0.1", "0.0001"), ("ALGO", "0.2", "1", "0.0001"),
    ("ICP", "12", "0.01", "0.001"), ("APT", "9", "0.01", "0.001"), ("ARB", "1.1", "0.1", "0.0001"),
    ("OP", "2.5", "0.01", "0.001"), ("INJ", "25", "0.01", "0.01"), ("SUI", "1.2", "0.1", "0.0001"),
    ("SHIB", "0.00002", "1", "0.00000001"), ("PEPE", "0.000009", "1", "0.00000001"),
]  # fmt: skip


# --- the generated stream ---------------------------------------------------------------------------------------


@dataclass
class ExpectedOrder:
    symbol: str
    order_id: int
    client_order_id: str
    status: OrderStatus
    executed_qty: Decimal
    quote_qty: Decimal
    trade_ids: list[int]


@dataclass
class Stream:
    reports: list[ExecutionReport]
    filters: dict[str, SymbolFilters]
    orders: dict[tuple[str, int], ExpectedOrder]
    fills: dict[tuple[str, str | None], list[PositionFill]]  # (base asset, edge) → its fills
    held: dict[tuple[str, str | None], Decimal]  # the generator's own ledger of what each position holds

    @property
    def symbols(self) -> list[str]:
        return list(self.filters)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for r in self.reports:
            out[r.execution_type] = out.get(r.execution_type, 0) + 1
        return out


@dataclass
class _Position:
    symbol: str
    edge: str | None
    held: Decimal = Decimal(0)
    busy: bool = False


@dataclass
class _OrderPlan:
    position: _Position
    order_id: int
    cid: str
    side: Side
    type: OrderType
    qty: Decimal
    limit: Decimal  # 0 for MARKET
    steps: list[tuple[str, Decimal, Decimal]]  # (execution type, quantity, price), emitted one at a time
    done: int = 0


class _Generator:
    def __init__(self, n_symbols: int, seed: int, concurrency: int, start_ms: int) -> None:
        if not 1 <= n_symbols <= len(ASSETS):
            raise ValueError(f"symbols must be between 1 and {len(ASSETS)}, got {n_symbols}")
        self.rng = random.Random(seed)
        self.concurrency = concurrency
        self.now_ms = start_ms
        self.filters: dict[str, SymbolFilters] = {}
        self.prices: dict[str, Decimal] = {}
        self.next_order: dict[str, int] = {}
        self.next_trade: dict[str, int] = {}
        for i, (base, price, step, tick) in enumerate(ASSETS[:n_symbols]):
            symbol = base + QUOTE
            self.filters[symbol] = SymbolFilters(
                symbol=symbol, tick_size=Decimal(tick), min_price=Decimal(tick), step_size=Decimal(step),
                min_qty=Decimal(step), min_notional=Decimal(5), base_asset=base, quote_asset=QUOTE,
            )  # fmt: skip
            self.prices[symbol] = Decimal(price)
            # Binance numbers orders and trades per symbol; different bases keep ids realistic and distinct.
            self.next_order[symbol] = (i + 1) * 7_000_000 + self.rng.randrange(1_000_000)
            self.next_trade[symbol] = (i + 1) * 90_000_000 + self.rng.randrange(1_000_000)
        self.positions = [_Position(s, e) for s in self.filters for e in ("edge70", None)]
        self.expected: dict[tuple[str, int], ExpectedOrder] = {}
        self.fills: dict[tuple[str, str | None], list[PositionFill]] = {}
        self.reports: list[ExecutionReport] = []

    # one order: its quantity, side, type, fills and whether it is canceled are decided when it is created
    def _new_order(self, pos: _Position) -> _OrderPlan:
        rng, f = self.rng, self.filters[pos.symbol]
        price = self._move_price(pos.symbol)
        closed = pos.held < f.min_qty or pos.held * price < f.min_notional
        if closed or rng.random() < 0.45:
            side = Side.BUY
            qty = f.quantity_down(Decimal(rng.randint(20, 2000)) / price)
        else:
            side = Side.SELL
            fraction = Decimal(1) if rng.random() < 0.4 else Decimal(rng.randint(30, 70)) / 100
            qty = f.quantity_down(pos.held * fraction)
        if qty < f.min_qty:
            side, qty = Side.BUY, f.quantity_down(Decimal(100) / price)
        market = rng.random() < 0.3
        cancel = not market and rng.random() < 0.15
        limit = f.price_down(price * (Decimal("0.999") if side is Side.BUY else Decimal("1.001")))
        parts = self._split(qty, f.step_size, rng.randint(1, 4))
        if cancel:
            parts = parts[: rng.randint(0, min(2, len(parts) - 1))]  # never all of it
        steps: list[tuple[str, Decimal, Decimal]] = [("NEW", qty, limit)]
        for part in parts:
            fill_price = limit if not market else f.price_down(price * (1 + Decimal(rng.randint(-5, 5)) / 10_000))
            steps.append(("TRADE", part, fill_price))
        if cancel:
            steps.append(("CANCELED", Decimal(0), Decimal(0)))
        symbol = pos.symbol
        order_id = self.next_order[symbol]
        self.next_order[symbol] += rng.randint(1, 40)
        if pos.edge is not None:
            cid = client_order_id(
                pos.edge, uuid.UUID(int=rng.getrandbits(128)).hex, "entry" if side is Side.BUY else "exit"
            )
        else:
            cid = f"web_{rng.getrandbits(96):024x}"
        self.expected[(symbol, order_id)] = ExpectedOrder(
            symbol, order_id, cid, OrderStatus.NEW, Decimal(0), Decimal(0), []
        )
        pos.busy = True
        order_type = OrderType.MARKET if market else OrderType.LIMIT
        return _OrderPlan(pos, order_id, cid, side, order_type, qty, Decimal(0) if market else limit, steps)

    def _move_price(self, symbol: str) -> Decimal:
        f = self.filters[symbol]
        moved = f.price_down(self.prices[symbol] * (1 + Decimal(self.rng.randint(-20, 20)) / 1000))
        self.prices[symbol] = max(moved, f.tick_size)
        return self.prices[symbol]

    def _split(self, qty: Decimal, step: Decimal, n: int) -> list[Decimal]:
        units = int(qty / step)
        n = max(1, min(n, units))
        cuts = sorted(self.rng.sample(range(1, units), n - 1)) if n > 1 else []
        bounds = [0, *cuts, units]
        return [(bounds[i + 1] - bounds[i]) * step for i in range(n)]

    def _emit(self, plan: _OrderPlan) -> None:
        kind, qty, price = plan.steps[plan.done]
        plan.done += 1
        pos, symbol = plan.position, plan.position.symbol
        expected = self.expected[(symbol, plan.order_id)]
        self.now_ms += self.rng.randint(0, 3)
        last_qty = last_price = commission = Decimal(0)
        commission_asset: str | None = None
        trade_id = -1
        status = expected.status
        client_id, original_client_id = plan.cid, ""
        if kind == "NEW":
            status = OrderStatus.NEW
        elif kind == "TRADE":
            trade_id = self.next_trade[symbol]
            self.next_trade[symbol] += self.rng.randint(1, 50)
            last_qty, last_price = qty, price
            expected.executed_qty += qty
            expected.quote_qty += qty * price
            expected.trade_ids.append(trade_id)
            status = OrderStatus.FILLED if expected.executed_qty == plan.qty else OrderStatus.PARTIALLY_FILLED
            base = self.filters[symbol].base_asset
            if plan.side is Side.BUY:  # Binance takes the fee from what is received
                commission, commission_asset = (qty * FEE_RATE).quantize(COMMISSION_GRID, ROUND_DOWN), base
                pos.held += qty - commission
            else:
                commission, commission_asset = (qty * price * FEE_RATE).quantize(COMMISSION_GRID, ROUND_DOWN), QUOTE
                pos.held -= qty
            self.fills.setdefault((base, pos.edge), []).append(
                PositionFill(
                    trade_id=trade_id,
                    order_id=plan.order_id,
                    side=plan.side,
                    quantity=qty,
                    price=price,
                    commission=commission,
                    commission_asset=commission_asset,
                    time_ms=self.now_ms,
                    edge=pos.edge,
                )
            )
        else:  # CANCELED: `c` is the cancel request's own id, `C` the order's
            status = OrderStatus.CANCELED
            client_id, original_client_id = f"cancel{self.rng.getrandbits(64):016x}", plan.cid
        expected.status = status
        self.reports.append(
            ExecutionReport(
                symbol=symbol,
                client_order_id=client_id,
                original_client_order_id=original_client_id,
                side=plan.side,
                type=plan.type,
                execution_type=kind,
                status=status,
                order_id=plan.order_id,
                orig_qty=plan.qty,
                price=plan.limit,
                stop_price=Decimal(0),
                last_qty=last_qty,
                last_price=last_price,
                cumulative_qty=expected.executed_qty,
                cumulative_quote_qty=expected.quote_qty,
                commission=commission,
                commission_asset=commission_asset,
                trade_id=trade_id,
                event_time_ms=self.now_ms + 1,
                transaction_time_ms=self.now_ms,
            )
        )

    def run(self, n_reports: int) -> Stream:
        active: list[_OrderPlan] = []
        while len(self.reports) < n_reports or active:
            if len(self.reports) < n_reports:
                idle = [p for p in self.positions if not p.busy]
                while len(active) < self.concurrency and idle:
                    active.append(self._new_order(idle.pop(self.rng.randrange(len(idle)))))
            plan = active[self.rng.randrange(len(active))]
            self._emit(plan)
            if plan.done == len(plan.steps):
                plan.position.busy = False
                active.remove(plan)
        held = {(self.filters[p.symbol].base_asset, p.edge): p.held for p in self.positions}
        return Stream(
            self.reports, self.filters, self.expected, self.fills, {k: v for k, v in held.items() if k in self.fills}
        )


def generate_stream(n_reports: int, *, symbols: int = 24, seed: int = 7, concurrency: int = 32) -> Stream:
    """At least `n_reports` execution reports (every started order is finished), deterministic for a seed."""
    return _Generator(symbols, seed, concurrency, start_ms=int(time.time() * 1000) - 86_400_000).run(n_reports)


# --- the AccountData fake feeding one order-ingestion replica --------------------------------------------------


class StreamAccount:
    """`AccountData` whose user data stream is the generated reports (after `go`), then stays open; REST answers
    are empty (nothing to back-fill).  `go` is a multiprocessing Event (polled: it must not block the loop)."""

    def __init__(
        self, reports: Sequence[UserEvent], filters: dict[str, SymbolFilters], go: Any, rate: float = 0.0
    ) -> None:
        self._reports = reports
        self._rate = rate  # reports per second offered (0: as fast as the service takes them)
        self._filters = filters
        self._go = go
        self._opened = False
        self.t_first = 0.0
        self.t_last = 0.0
        self.finished = asyncio.Event()

    async def balances(self) -> dict[str, Balance]:
        return {QUOTE: Balance(QUOTE, Decimal(1_000_000), Decimal(0))}

    async def server_time_ms(self) -> int:
        return int(time.time() * 1000)

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        return {}

    async def symbol_filters(self, symbols: Sequence[str] | None = None) -> dict[str, SymbolFilters]:
        return dict(self._filters)

    async def all_orders(self, symbol: str, from_order_id: int | None = None) -> list[OrderState]:
        return []

    async def my_trades(self, symbol: str, from_trade_id: int | None = None) -> list[TradeRecord]:
        return []

    def user_events(self) -> AsyncIterator[UserEvent]:
        first, self._opened = not self._opened, True
        return self._events(first)

    async def _events(self, first: bool) -> AsyncIterator[UserEvent]:
        if first:
            await _wait_mp(self._go, 0.001)
            self.t_first = start = time.time()
            for i, report in enumerate(self._reports):
                if self._rate and (wait := start + i / self._rate - time.time()) > 0:
                    await asyncio.sleep(wait)
                yield report  # the service buffers what it reads while a batch is being confirmed
            self.t_last = time.time()
            self.finished.set()
        await asyncio.Event().wait()  # the stream stays open until the service stops


# --- the processes ----------------------------------------------------------------------------------------------


def _logging(role: str, level: str) -> None:
    """Logs as in production (JSON, `level`), written to a file in the temp dir rather than the terminal."""
    from binance_tool.config.settings import ObservabilitySettings
    from binance_tool.observability import configure_logging

    sys.stdout = open(Path(tempfile.gettempdir()) / f"bench-execution-reports.{role}.log", "w")  # noqa: SIM115
    configure_logging(role, ObservabilitySettings(log_level=level))


async def _wait_mp(event: Any, poll_s: float = 0.02) -> None:
    while not event.is_set():  # noqa: ASYNC110 - a multiprocessing Event: polled, never blocking the loop
        await asyncio.sleep(poll_s)


def _ingestion_process(
    cfg: dict[str, Any], replica: int, reports: list[ExecutionReport], conn: Any, go: Any, stop: Any
) -> None:
    try:
        _event_loop_runner()(_ingestion(cfg, replica, reports, conn, go, stop))  # uvloop, as run_service
    except BaseException as exc:
        conn.send(("error", f"order-ingestion {replica}: {exc!r}"))
        raise


async def _ingestion(
    cfg: dict[str, Any], replica: int, reports: list[ExecutionReport], conn: Any, go: Any, stop: Any
) -> None:
    from services.order_ingestion.main import build
    from services.order_ingestion.settings import OrderIngestionSettings

    _logging(f"order-ingestion-{replica}", cfg["log_level"])
    settings = OrderIngestionSettings(
        amqp_url=cfg["amqp_url"], redis_url=cfg["redis_url"], order_ingestion_symbols=",".join(cfg["symbols"]),
        order_ingestion_account=cfg["account"], order_ingestion_replica_id=f"bench-{replica}",
    )  # fmt: skip
    account = StreamAccount(reports, cfg["filters"], go, cfg["rate"])
    app = await build(settings, account=account)
    stop_service = asyncio.Event()
    task = asyncio.create_task(app.service.run(stop_service))
    try:
        async with asyncio.timeout(60):
            while not app.service.health.ready:
                if task.done():
                    task.result()
                await asyncio.sleep(0.01)
        conn.send(("ready",))
        finished = asyncio.create_task(account.finished.wait())
        await asyncio.wait({finished, task}, return_when=asyncio.FIRST_COMPLETED)
        if task.done():
            task.result()
            raise RuntimeError("the service stopped before publishing the stream")
        # the service reads the stream ahead of its (confirmed) publishing: wait until it has published it all
        while app.service.stats.stream_reports < len(reports) and not task.done():  # noqa: ASYNC110 - polled counter
            await asyncio.sleep(0.001)
        conn.send(("published", account.t_first, time.time(), app.service.stats.stream_reports))
        await _wait_mp(stop)
    finally:
        stop_service.set()
        await asyncio.wait_for(task, 30)
        await app.aclose()


def _trackers_process(cfg: dict[str, Any], conn: Any, stop: Any) -> None:
    try:
        _event_loop_runner()(_trackers(cfg, conn, stop))  # uvloop, as run_service
    except BaseException as exc:
        conn.send(("error", f"trackers: {exc!r}"))
        raise


async def _trackers(cfg: dict[str, Any], conn: Any, stop: Any) -> None:
    from services.trackers.filters import StaticFilters
    from services.trackers.main import build
    from services.trackers.settings import TrackersSettings
    from services.trackers.store import RedisTrackerStore
    from services.trackers.subscriptions import trackers_execution_reports

    _logging("trackers", cfg["log_level"])
    settings = TrackersSettings(amqp_url=cfg["amqp_url"], redis_url=cfg["redis_url"], amqp_prefetch=cfg["prefetch"])
    app = await build(settings, filters=StaticFilters(cfg["filters"]))
    subscription = trackers_execution_reports(settings.amqp_prefetch, settings.amqp_delivery_limit)
    if cfg.get("queue"):  # tests: a private queue that expires (the shared test vhost has other consumers)
        subscription = dataclasses.replace(subscription, queue=cfg["queue"], extra_arguments={"x-expires": 120_000})
    account, expected = cfg["account"], cfg["unique"]
    seen: set[uuid.UUID] = set()
    latencies_ms: list[float] = []
    # busy_s: wall time with at least one handler running (handlers of different symbols run concurrently)
    counters = {"calls": 0, "failures": 0, "busy_s": 0.0, "active": 0, "busy_since": 0.0}
    profile = cProfile.Profile() if cfg.get("profile") else None

    async def handler(event: Any, delivery: Any = None) -> None:
        if counters["active"] == 0:
            counters["busy_since"] = time.perf_counter()
        counters["active"] += 1
        try:
            await app.service.on_execution_report(event, delivery)
        except Exception:
            counters["failures"] += 1
            raise
        finally:
            counters["active"] -= 1
            if counters["active"] == 0:
                counters["busy_s"] += time.perf_counter() - counters["busy_since"]
        if getattr(event, "account", None) != account:
            return
        counters["calls"] += 1
        if event.event_id not in seen:
            seen.add(event.event_id)
            now = time.time()
            latencies_ms.append(now * 1000 - event.ts_init_ms)
            if len(seen) == expected:
                if profile is not None:
                    profile.disable()
                conn.send(("handled", now, counters["calls"], counters["failures"], counters["busy_s"], latencies_ms))

    try:
        await app.bus.declare([subscription])
        if profile is not None:
            profile.enable()
        consumer = await app.bus.consume(subscription, handler)
        conn.send(("ready",))
        await _wait_mp(stop)
        await consumer.stop()
        store = app.service.store
        conflicts = store.conflicts if isinstance(store, RedisTrackerStore) else 0
        text = ""
        if profile is not None:
            out = io.StringIO()
            stats = pstats.Stats(profile, stream=out)
            stats.strip_dirs().sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(70)
            text = out.getvalue()
        conn.send(("stopped", counters["calls"], counters["failures"], conflicts, text))
    finally:
        await app.aclose()


# --- one run ----------------------------------------------------------------------------------------------------


class BenchError(RuntimeError):
    pass


def _receive(conn: Any, procs: Sequence[Any], timeout_s: float, what: str) -> tuple[Any, ...]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if conn.poll(0.05):
            msg = conn.recv()
            if msg[0] == "error":
                raise BenchError(msg[1])
            return tuple(msg)
        dead = [p for p in procs if not p.is_alive()]
        if dead:
            raise BenchError(f"{what}: process {dead[0].name} exited with code {dead[0].exitcode}")
    raise BenchError(f"{what}: nothing after {timeout_s:.0f}s")


POSITIONS_SINK = "bench.position-changes"  # stands for the production consumers of PositionChanged


async def _reset_queues(amqp_url: str, queue: str) -> None:
    """The bench's vhost is its own: queues left by an earlier run are deleted (the trackers declare theirs), and
    a quorum queue bound to every `PositionChanged` is declared, so that the trackers' publishes are confirmed
    only once written to a queue, as in production (performance consumes them there)."""
    import aio_pika

    from binance_tool.bus.amqp import AmqpBus
    from binance_tool.bus.api import Binding, Subscription
    from binance_tool.config import BusSettings
    from binance_tool.events import PositionChanged

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(queue)
        await channel.queue_delete(POSITIONS_SINK)
    finally:
        await connection.close()
    bus = AmqpBus(BusSettings(amqp_url=amqp_url), None, "bench")
    await bus.connect()
    try:
        sink = Subscription(
            queue=POSITIONS_SINK,
            bindings=(Binding(PositionChanged.EXCHANGE, "position.#"),),
            accepts=(PositionChanged,),
            dedup=False,
        )
        await bus.declare([sink])
    finally:
        await bus.close()


async def _drop_sink(amqp_url: str) -> int:
    """Delete the PositionChanged sink; how many messages it held."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        declared = await channel.declare_queue(POSITIONS_SINK, passive=True)
        count = int(declared.declaration_result.message_count or 0)
        await channel.queue_delete(POSITIONS_SINK)
        return count
    finally:
        await connection.close()


async def _wait_drained(amqp_url: str, queue: str, timeout_s: float = 30.0) -> None:
    """Until the queue holds no ready message (the replicas' late duplicates reached the trackers' dedup)."""
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            declared = await channel.declare_queue(queue, passive=True)
            if not declared.declaration_result.message_count:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.3)  # what was delivered but not yet acked
    finally:
        await connection.close()


async def verify(redis_url: str, account: str, stream: Stream) -> list[str]:
    """What differs between the trackers' Redis state for `account` and what `stream` implies (empty: all good)."""
    from redis.asyncio import Redis

    from services.trackers.store import RedisTrackerStore

    problems: list[str] = []
    redis = Redis.from_url(redis_url)
    store = RedisTrackerStore(redis)
    try:
        for symbol in stream.symbols:
            got = {o.order_id: o for o in await store.orders(account, symbol)}
            want = {oid: e for (s, oid), e in stream.orders.items() if s == symbol}
            if got.keys() != want.keys():
                problems.append(f"{symbol}: {len(got)} orders stored, {len(want)} expected")
            for oid, e in want.items():
                o = got.get(oid)
                if o is None:
                    continue
                fact = (
                    o.status,
                    o.executed_qty,
                    o.cumulative_quote_qty,
                    o.client_order_id,
                    [f.trade_id for f in o.fills],
                )
                wanted = (e.status, e.executed_qty, e.quote_qty, e.client_order_id, sorted(e.trade_ids))
                if fact != wanted:
                    problems.append(f"order {symbol}#{oid}: stored {fact}, expected {wanted}")
        records = {(r.base_asset, r.edge): r for r in await store.positions(account)}
        if records.keys() != stream.fills.keys():
            problems.append(f"{len(records)} positions stored, {len(stream.fills)} expected")
        for key, fills in stream.fills.items():
            record = records.get(key)
            if record is None:
                continue
            f = record.filters
            expected = position_from_fills(fills, stream.filters[key[0] + QUOTE], edge=key[1])
            if set(record.fills) != {x.trade_id for x in fills}:
                problems.append(f"position {key}: {len(record.fills)} fills stored, {len(fills)} expected")
            position = record.position
            if position != expected:
                problems.append(f"position {key}: stored {position}, expected {expected}")
            if position.quantity != stream.held[key]:
                problems.append(f"position {key}: quantity {position.quantity}, generator's ledger {stream.held[key]}")
            if f != stream.filters[key[0] + QUOTE]:
                problems.append(f"position {key}: stored filters {f}")
    finally:
        await redis.aclose()
    return problems


async def _value_sizes(redis_url: str, account: str) -> dict[str, int]:
    """Sizes of the stored JSON values at the end (each update reads and rewrites the whole value)."""
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    out: dict[str, int] = {}
    try:
        for kind in ("orders", "positions"):
            sizes = [await redis.strlen(k) async for k in redis.scan_iter(match=f"{kind}:{account}:*", count=1000)]
            out[f"{kind}_max"] = max(sizes, default=0)
            out[f"{kind}_mean"] = sum(sizes) // len(sizes) if sizes else 0
    finally:
        await redis.aclose()
    return out


async def delete_account_keys(redis_url: str, account: str) -> int:
    from redis.asyncio import Redis

    redis = Redis.from_url(redis_url)
    deleted = 0
    try:
        batch: list[Any] = []
        async for key in redis.scan_iter(match=f"*:{account}*", count=1000):
            batch.append(key)
            if len(batch) >= 500:
                deleted += await redis.delete(*batch)
                batch = []
        if batch:
            deleted += await redis.delete(*batch)
    finally:
        await redis.aclose()
    return deleted


def run_once(
    stream: Stream,
    *,
    amqp_url: str = DEFAULT_AMQP_URL,
    redis_url: str = DEFAULT_REDIS_URL,
    replicas: int = 2,
    prefetch: int = 50,
    queue: str | None = None,
    profile: bool = False,
    log_level: str = "INFO",
    keep_keys: bool = False,
    timeout_s: float | None = None,
    account: str | None = None,
    rate: float = 0.0,
) -> dict[str, Any]:
    """Feed `stream` to `replicas` order-ingestion processes and one trackers process; time it; verify Redis.

    `queue`: consume a private, expiring queue instead of `trackers.execution-reports` (tests on a shared vhost);
    without it the production queue is deleted first, so use a vhost of the bench's own."""
    import multiprocessing

    from services.trackers.subscriptions import trackers_execution_reports

    if replicas < 1:
        raise ValueError(f"replicas must be at least 1, got {replicas}")
    ctx = multiprocessing.get_context("spawn")
    account = account or f"bench-{uuid.uuid4().hex[:12]}"
    unique = len(stream.reports)
    cfg: dict[str, Any] = {
        "amqp_url": amqp_url, "redis_url": redis_url, "account": account, "symbols": stream.symbols,
        "filters": stream.filters, "prefetch": prefetch, "queue": queue, "unique": unique, "profile": profile,
        "log_level": log_level, "rate": rate,
    }  # fmt: skip
    queue_name = queue or trackers_execution_reports().queue
    if queue is None:
        asyncio.run(_reset_queues(amqp_url, queue_name))
    timeout = timeout_s if timeout_s is not None else max(120.0, unique / 50)
    go, stop = ctx.Event(), ctx.Event()
    procs: list[Any] = []
    conns: list[Any] = []
    try:
        parent, child = ctx.Pipe()
        trackers = ctx.Process(target=_trackers_process, args=(cfg, child, stop), name="trackers", daemon=True)
        trackers.start()
        procs.append(trackers)
        _receive(parent, procs, 120, "trackers start")
        for i in range(replicas):
            p_conn, c_conn = ctx.Pipe()
            proc = ctx.Process(
                target=_ingestion_process,
                args=(cfg, i, stream.reports, c_conn, go, stop),
                name=f"order-ingestion-{i}",
                daemon=True,
            )
            proc.start()
            procs.append(proc)
            conns.append(p_conn)
        for i, conn in enumerate(conns):
            _receive(conn, procs, 120, f"order-ingestion {i} start")
        go.set()
        published = [_receive(conn, procs, timeout, f"order-ingestion {i} publish") for i, conn in enumerate(conns)]
        handled = _receive(parent, procs, timeout, "trackers handling every report")
        asyncio.run(_wait_drained(amqp_url, queue_name))
        stop.set()
        stopped = _receive(parent, procs, 60, "trackers stop")
        for proc in procs:
            proc.join(60)
    finally:
        stop.set()
        for proc in procs:
            if proc.is_alive():
                proc.join(10)
            if proc.is_alive():
                proc.terminate()
    position_changes = asyncio.run(_drop_sink(amqp_url)) if queue is None else None
    problems = asyncio.run(verify(redis_url, account, stream))
    sizes = asyncio.run(_value_sizes(redis_url, account))
    if not keep_keys:
        asyncio.run(delete_account_keys(redis_url, account))
    t0 = min(p[1] for p in published)
    t_published = max(p[2] for p in published)
    t_done = handled[1]
    n_published = sum(int(p[3]) for p in published)
    _, calls, failures, conflicts, profile_text = stopped
    return {
        "account": account,
        "unique": unique,
        "published": n_published,
        "handled": int(calls),
        "dedup_drops": n_published - int(calls),
        "handler_failures": int(failures),
        "store_conflicts": int(conflicts),
        "publish_s": t_published - t0,
        "end_to_end_s": t_done - t0,
        "unique_per_s": unique / (t_done - t0),
        "published_per_s": n_published / (t_published - t0),
        "handler_busy_s": float(handled[4]),
        "latency_ms": percentiles(handled[5], (50, 90, 99)),
        "position_changes_published": position_changes,
        "redis_value_bytes": sizes,
        "problems": problems,
        "profile": profile_text,
    }


# --- the command ------------------------------------------------------------------------------------------------


def ensure_vhost(amqp_url: str) -> None:
    """Create the URL's vhost with rabbitmqctl (local broker, root) when the broker refuses it."""
    import aio_pika

    async def can_connect() -> bool:
        try:
            connection = await aio_pika.connect(amqp_url)
        except Exception:
            return False
        await connection.close()
        return True

    if asyncio.run(can_connect()):
        return
    parsed = urlparse(amqp_url)
    vhost = parsed.path.lstrip("/") or "/"
    user = parsed.username or "guest"
    if shutil.which("rabbitmqctl"):
        subprocess.run(["rabbitmqctl", "-q", "add_vhost", vhost], check=False, capture_output=True)
        subprocess.run(
            ["rabbitmqctl", "-q", "set_permissions", "-p", vhost, user, ".*", ".*", ".*"],
            check=False,
            capture_output=True,
        )
        if asyncio.run(can_connect()):
            print(f"created RabbitMQ vhost {vhost!r}")
            return
    raise SystemExit(
        f"cannot connect to {parsed.hostname}:{parsed.port} vhost {vhost!r}; create it "
        f"(rabbitmqctl add_vhost {vhost}; rabbitmqctl set_permissions -p {vhost} {user} '.*' '.*' '.*') "
        "or pass --amqp-url with a vhost of the bench's own"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-n", "--reports", type=int, default=10_000, help="unique execution reports per run (at least)")
    ap.add_argument("--replicas", type=int, default=2, help="order-ingestion processes publishing the stream")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--symbols", type=int, default=24, help=f"symbols traded (at most {len(ASSETS)})")
    ap.add_argument("--concurrency", type=int, default=32, help="orders in progress at once in the stream")
    ap.add_argument("--prefetch", type=int, default=50, help="trackers' AMQP_PREFETCH (production default 50)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--rate", type=float, default=0.0, help="reports/s each replica is fed (default: flat out)")
    ap.add_argument("--log-level", default="INFO", help="services' LOG_LEVEL (logs go to the temp dir)")
    ap.add_argument("--profile", action="store_true", help="cProfile the trackers process of the first run")
    ap.add_argument("--result-name", default="execution_reports", help="bench/results/<name>.json")
    ap.add_argument("--amqp-url", default=os.environ.get("BENCH_AMQP_URL", DEFAULT_AMQP_URL))
    ap.add_argument("--redis-url", default=os.environ.get("BENCH_REDIS_URL", DEFAULT_REDIS_URL))
    args = ap.parse_args()
    import structlog

    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # this process: warnings and up
    ensure_vhost(args.amqp_url)
    stream = generate_stream(args.reports, symbols=args.symbols, seed=args.seed, concurrency=args.concurrency)
    counts = stream.counts()
    print(
        f"stream: {len(stream.reports):,} reports ({', '.join(f'{k} {v:,}' for k, v in sorted(counts.items()))}), "
        f"{len(stream.orders):,} orders on {len(stream.symbols)} symbols, {len(stream.fills)} positions; "
        f"{args.replicas} replicas" + (f" fed at {args.rate:g} reports/s" if args.rate else ""),
        flush=True,
    )
    runs: list[dict[str, Any]] = []
    for i in range(args.runs):
        r = run_once(
            stream,
            amqp_url=args.amqp_url,
            redis_url=args.redis_url,
            replicas=args.replicas,
            prefetch=args.prefetch,
            profile=args.profile and i == 0,
            log_level=args.log_level,
            rate=args.rate,
        )
        runs.append(r)
        print(
            f"run {i + 1}: {r['unique_per_s']:,.0f} unique/s end to end ({r['end_to_end_s']:.1f} s), "
            f"{r['published_per_s']:,.0f} published/s, p50 {r['latency_ms']['p50']:,.0f} ms, "
            f"p99 {r['latency_ms']['p99']:,.0f} ms, dedup drops {r['dedup_drops']:,}, "
            f"state {'OK' if not r['problems'] else 'WRONG'}",
            flush=True,
        )
        if r["profile"]:
            print("\ntrackers process profile (first run):\n" + r["profile"])
        if r["problems"]:
            for p in r["problems"][:20]:
                print("  " + p)
            raise SystemExit(f"run {i + 1}: the trackers' Redis state differs from the stream ({len(r['problems'])})")

    def values(key: str, sub: str | None = None) -> list[float]:
        return [float(r[key][sub] if sub else r[key]) for r in runs]

    def med(key: str, sub: str | None = None) -> float:
        return median(values(key, sub))

    busy = [100 * r["handler_busy_s"] / r["end_to_end_s"] for r in runs]
    measures: list[tuple[str, list[float]]] = [
        ("unique reports / s, end to end", values("unique_per_s")),
        ("published / s (all replicas, confirmed)", values("published_per_s")),
        ("end to end, s", values("end_to_end_s")),
        ("publishing, s", values("publish_s")),
        ("latency p50, ms (publish → Redis)", values("latency_ms", "p50")),
        ("latency p99, ms", values("latency_ms", "p99")),
        ("trackers handler busy, % of end to end", busy),
        ("dedup drops", values("dedup_drops")),
    ]
    rows = [[label, median(v), min(v), max(v)] for label, v in measures]
    print()
    print_table(["measure (median of runs)", "median", "min", "max"], rows)
    path = write_result(
        args.result_name,
        {
            "reports_per_run": len(stream.reports),
            "report_kinds": counts,
            "orders": len(stream.orders),
            "symbols": len(stream.symbols),
            "positions": len(stream.fills),
            "replicas": args.replicas,
            "rate_per_replica": args.rate or None,
            "prefetch": args.prefetch,
            "log_level": args.log_level,
            "runs": [{k: v for k, v in r.items() if k != "profile"} for r in runs],
            "median": {
                "unique_per_s": med("unique_per_s"),
                "published_per_s": med("published_per_s"),
                "end_to_end_s": med("end_to_end_s"),
                "latency_p50_ms": med("latency_ms", "p50"),
                "latency_p99_ms": med("latency_ms", "p99"),
                "dedup_drops": med("dedup_drops"),
            },
        },
    )
    print(f"\nwritten {path}")


if __name__ == "__main__":
    # Run through the package name so that the spawned processes find the process functions by it.
    from bench import execution_reports

    execution_reports.main()
