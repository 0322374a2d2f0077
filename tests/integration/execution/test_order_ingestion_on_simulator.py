"""order-ingestion on real RabbitMQ and Redis against the exchange simulator (real python-binance adapter): two
replicas follow the user data stream and publish the same ids for an order's NEW and its fill; after both stop, a
fill that happens while nobody listens is back-filled from REST at the next start, from the Redis cursors.

No reset of the broker or Redis: the run uses its own account name (so its own cursor keys) and its own
observer queue, so it can share the test vhost and database with other runs."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from decimal import ROUND_DOWN, Decimal
from pathlib import Path

import httpx
import pytest

from binance_tool import wiring
from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Subscription
from binance_tool.config import BusSettings, load_settings
from binance_tool.events import AccountBalancesUpdated, Envelope, ExecutionReportReceived
from binance_tool.exchange.execution import OrderOutcome, OrderRequest, OrderType, Side, TimeInForce, client_order_id
from services.exchange_simulator.testing import running_simulator
from services.order_ingestion import main as ingestion_main
from services.order_ingestion.settings import OrderIngestionSettings
from tests.simulator.conftest import make_settings

pytestmark = pytest.mark.integration
START = "2021-03-01"
HOUR = 3_600_000


async def eventually(predicate, within_s: float = 20.0, every_s: float = 0.05):
    async with asyncio.timeout(within_s):
        while True:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def replica(conf: OrderIngestionSettings) -> AsyncIterator[ingestion_main.App]:
    app = await ingestion_main.build(conf)
    stop = asyncio.Event()
    task = asyncio.create_task(app.service.run(stop))
    try:
        await eventually(lambda: app.service.health.ready or task.done())
        if task.done():
            task.result()
        yield app
    finally:
        stop.set()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await app.aclose()


async def buy_near_the_market(exchange, cid: str) -> int:
    """A LIMIT buy 0.5 % above the price: it rests until the replay moves on, then fills."""
    price = (await exchange.prices(["BTCUSDT"]))["BTCUSDT"]
    tick = (await exchange.symbol_filters(["BTCUSDT"]))["BTCUSDT"].tick_size
    limit = (price * Decimal("1.005") / tick).to_integral_value(ROUND_DOWN) * tick
    request = OrderRequest(
        "BTCUSDT", Side.BUY, OrderType.LIMIT, Decimal("0.001"), cid, price=limit, time_in_force=TimeInForce.GTC
    )
    result = await exchange.place_order(request)
    assert result.outcome is OrderOutcome.ACCEPTED and result.order is not None, result
    return result.order.order_id


async def test_two_replicas_publish_the_stream_s_reports_and_a_restart_back_fills_a_missed_fill(
    shared_data: Path, amqp_url: str, redis_url: str
):
    run = uuid.uuid4().hex[:8]
    sim_conf = make_settings(shared_data, sim_symbols="BTCUSDT", sim_start=START, sim_balances="USDT=10000")
    async with running_simulator(sim_conf) as sim:
        conf = load_settings(
            OrderIngestionSettings,
            amqp_url=amqp_url,
            redis_url=redis_url,
            exchange="simulator",
            simulator_url=sim.base_url,
            order_ingestion_symbols="BTCUSDT",
            order_ingestion_account=f"it-{run}",
            order_ingestion_replica_id=f"it-{run}",
        )
        observer_bus = AmqpBus(load_settings(BusSettings, amqp_url=amqp_url), None, "observer")
        await observer_bus.connect()
        watch = Subscription(
            queue=f"test.order-ingestion-observer.{run}",
            bindings=(Binding(ExecutionReportReceived.EXCHANGE, "#"),),
            accepts=(ExecutionReportReceived, AccountBalancesUpdated),
            dedup=False,
            extra_arguments={"x-expires": 60_000},  # this run's own queue, gone a minute after the test
        )
        await observer_bus.declare([watch])
        seen: list[Envelope] = []

        async def record(event: Envelope, _delivery) -> None:
            if getattr(event, "account", None) == conf.order_ingestion_account:
                seen.append(event)

        observer = await observer_bus.consume(watch, record)
        exchange = await wiring.spot_exchange(conf)
        account = conf.order_ingestion_account

        def reports(order_id: int, execution_type: str, source: str | None = None) -> list[ExecutionReportReceived]:
            return [
                e
                for e in seen
                if isinstance(e, ExecutionReportReceived)
                and e.order_id == order_id
                and e.execution_type == execution_type
                and source in (None, e.source)
            ]

        try:
            async with httpx.AsyncClient(base_url=sim.base_url) as control:
                async with replica(conf) as ra, replica(conf) as rb:
                    await eventually(lambda: any(e.source == "rest-snapshot" for e in seen))
                    entry = client_order_id("edge70", f"it-{run}", "entry")
                    first = await buy_near_the_market(exchange, entry)
                    (await control.post("/sim/advance", params={"ms": 3 * HOUR})).raise_for_status()
                    await eventually(lambda: reports(first, "TRADE", "stream") and reports(first, "NEW", "stream"))
                    replicas = (ra.service.stats, rb.service.stats)
                    await eventually(lambda: all(stats.stream_reports >= 2 for stats in replicas))

                (trade,) = [t for t in await exchange.my_trades("BTCUSDT") if t.order_id == first]
                ids = {e.event_id for e in seen if isinstance(e, ExecutionReportReceived)}
                new_id = ExecutionReportReceived.id_for("binance", account, "BTCUSDT", first, "NEW", -1)
                fill_id = ExecutionReportReceived.id_for("binance", account, "BTCUSDT", first, "TRADE", trade.trade_id)
                # both replicas published both reports; with the same deterministic ids, the observer's consumer
                # collapses the copies that arrive in one micro-batch, so the ids seen are exactly these
                assert ids == {new_id, fill_id}
                fill = reports(first, "TRADE", "stream")[0]
                assert (fill.edge, fill.client_order_id, fill.last_qty, fill.order_status) == (
                    "edge70",
                    entry,
                    Decimal("0.001"),
                    "FILLED",
                )

                # nobody listens: an order is placed and fills
                second = await buy_near_the_market(exchange, client_order_id("edge70", f"it-{run}-2", "entry"))
                (await control.post("/sim/advance", params={"ms": 3 * HOUR})).raise_for_status()
                (trade2,) = [t for t in await exchange.my_trades("BTCUSDT") if t.order_id == second]
                before = len(seen)
                async with replica(conf):
                    (missed,) = await eventually(lambda: reports(second, "TRADE", "rest-backfill"))
                    await asyncio.sleep(0.5)
                assert missed.event_id == ExecutionReportReceived.id_for(
                    "binance", account, "BTCUSDT", second, "TRADE", trade2.trade_id
                )
                again = [e for e in seen[before:] if isinstance(e, ExecutionReportReceived)]
                assert first not in {e.order_id for e in again}  # the cursors: nothing before them is re-read
        finally:
            await observer.stop()
            await observer_bus.close()
            await exchange.close()
