"""trackers on real Redis and RabbitMQ: optimistic transactions under concurrent writers, and the consume round
trip (ExecutionReportReceived on bt.account → Redis state + PositionChanged on bt.positions).

Each test uses its own account name, so its Redis keys and event ids never meet another test's (nothing is
flushed), and uniquely named queues that expire."""

from __future__ import annotations

import asyncio
import dataclasses
import random
import uuid
from decimal import Decimal as D

import pytest
from redis.asyncio import Redis

from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Subscription
from binance_tool.clock import FixedClock
from binance_tool.config import BusSettings
from binance_tool.events import ExecutionReportReceived, PositionChanged, deterministic_id
from binance_tool.events.account import edge_of_client_order_id
from binance_tool.exchange.execution import OrderStatus
from binance_tool.state.idempotency import RedisIdempotencyStore
from binance_tool.tracking import PositionKey
from binance_tool.trading.filters import SymbolFilters
from services.trackers import queries
from services.trackers.filters import StaticFilters
from services.trackers.main import build
from services.trackers.service import TrackersService
from services.trackers.settings import TrackersSettings
from services.trackers.store import InMemoryTrackerStore, RedisTrackerStore
from services.trackers.subscriptions import trackers_execution_reports

pytestmark = pytest.mark.integration
FILTERS = StaticFilters(
    {"BTCUSDT": SymbolFilters("BTCUSDT", min_qty=D("0.00001"), min_notional=D("5"), base_asset="BTC",
                              quote_asset="USDT")}
)  # fmt: skip


def trade_reports(account: str) -> list[ExecutionReportReceived]:
    """Four edge70 orders on BTC: two buys in 3 fills, two sells (the position opens, grows, shrinks, closes)."""
    plan = [(1, "BUY", [(11, "0.4", "100"), (12, "0.6", "101")]), (2, "BUY", [(13, "0.5", "110")]),
            (3, "SELL", [(14, "0.75", "120")]), (4, "SELL", [(15, "0.75", "90")])]  # fmt: skip
    out = []
    for order_id, side, fills in plan:
        total = sum(D(q) for _, q, _ in fills)
        cid = f"edge70-leg-{order_id}"
        common = dict(
            correlation_id=deterministic_id("order", order_id), ts_init_ms=0, account=account, source="stream",
            symbol="BTCUSDT", client_order_id=cid, edge=edge_of_client_order_id(cid), order_id=order_id, side=side,
            order_type="LIMIT", orig_qty=total, price=D(fills[0][2]), stop_price=D(0), commission_asset="USDT",
        )  # fmt: skip
        t = order_id * 1000
        out.append(ExecutionReportReceived(
            event_id=ExecutionReportReceived.id_for("binance", account, "BTCUSDT", order_id, "NEW", -1), ts_event_ms=t,
            execution_type="NEW", order_status="NEW", last_qty=D(0), last_price=D(0), cumulative_qty=D(0),
            cumulative_quote_qty=D(0), commission=D(0), transaction_time_ms=t, **common,
        ))  # fmt: skip
        cum, quote = D(0), D(0)
        for i, (trade_id, qty, px) in enumerate(fills, start=1):
            cum, quote = cum + D(qty), quote + D(qty) * D(px)
            out.append(ExecutionReportReceived(
                event_id=ExecutionReportReceived.id_for("binance", account, "BTCUSDT", order_id, "TRADE", trade_id),
                ts_event_ms=t + i, execution_type="TRADE",
                order_status="FILLED" if cum == total else "PARTIALLY_FILLED", last_qty=D(qty), last_price=D(px),
                cumulative_qty=cum, cumulative_quote_qty=quote, commission=D(qty) * D(px) / 1000, trade_id=trade_id,
                transaction_time_ms=t + i, **common,
            ))  # fmt: skip
    return out


class _Sink:
    def __init__(self) -> None:
        self.published: list[PositionChanged] = []

    async def publish(self, event):
        self.published.append(event)

    async def publish_many(self, events):
        self.published.extend(events)


async def _state(store, account: str):
    orders = await store.orders(account, "BTCUSDT")
    records = await store.positions(account)
    return tuple(orders), tuple((r.key, dict(r.fills), r.position) for r in records)


async def test_two_instances_racing_on_one_position_end_like_one_instance(redis_url):
    account = f"it-{uuid.uuid4().hex[:12]}"
    events = trade_reports(account)
    reference = TrackersService(_Sink(), InMemoryTrackerStore(), FILTERS, FixedClock(1))
    for e in events:
        await reference.on_execution_report(e)

    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    stores = [RedisTrackerStore(c) for c in clients]
    sinks = [_Sink(), _Sink()]
    instances = [
        TrackersService(sink, store, FILTERS, FixedClock(1)) for sink, store in zip(sinks, stores, strict=True)
    ]
    try:
        for round_ in range(3):  # every report to both instances (redelivery / two consumers), all at once, shuffled
            jobs = [(inst, e) for inst in instances for e in events]
            random.Random(round_).shuffle(jobs)
            await asyncio.gather(*(inst.on_execution_report(e) for inst, e in jobs))
        assert await _state(stores[0], account) == await _state(reference.store, account)
        assert await _state(stores[1], account) == await _state(reference.store, account)
        assert sum(s.conflicts for s in stores) > 0  # the optimistic transactions did race
        record = await stores[0].position(PositionKey(account, "BTC", "edge70"))
        assert record is not None and record.position.closed and record.position.realised_pnl == D("1.5869")
        published = {e.event_id: e for s in sinks for e in s.published}
        assert all(e.cause_trade_id in record.fills for e in published.values())
        assert all(o.status is OrderStatus.FILLED for o in await queries.orders(clients[0], account, "BTCUSDT"))
        assert await queries.open_positions(clients[0], account) == []
    finally:
        for c in clients:
            await c.aclose()


async def test_consume_round_trip_over_rabbitmq(amqp_url, redis_url):
    account = f"it-{uuid.uuid4().hex[:12]}"
    tag = uuid.uuid4().hex[:8]
    settings = TrackersSettings(amqp_url=amqp_url, redis_url=redis_url)
    app = await build(settings, filters=FILTERS)
    subscription = dataclasses.replace(
        trackers_execution_reports(), queue=f"test.trackers.{tag}", extra_arguments={"x-expires": 60000}
    )
    observer = Subscription(
        queue=f"test.trackers-observer.{tag}",
        bindings=(Binding(PositionChanged.EXCHANGE, "position.#"),),
        accepts=(PositionChanged,),
        extra_arguments={"x-expires": 60000},
    )
    redis = Redis.from_url(redis_url)
    publisher = AmqpBus(BusSettings(amqp_url=amqp_url), RedisIdempotencyStore(redis), "trackers-test")
    seen: list[PositionChanged] = []

    async def collect(event, delivery=None):
        if isinstance(event, PositionChanged) and event.account == account:
            seen.append(event)

    consumers = []
    try:
        await publisher.connect()
        await app.bus.declare([subscription, observer])
        consumers.append(await publisher.consume(observer, collect))
        consumers.append(await app.bus.consume(subscription, app.service.on_execution_report))
        events = trade_reports(account)
        delivered = events + events[:3]  # duplicates: the bus's dedup drops them
        random.Random(3).shuffle(delivered)  # out of order
        await publisher.publish_many(delivered)
        async with asyncio.timeout(20):
            while True:
                record = await app.service.store.position(PositionKey(account, "BTC", "edge70"))
                orders = await queries.orders(redis, account, "BTCUSDT")
                stored = {} if record is None else {record.event(t).event_id: t for t in record.events}
                done = record is not None and len(record.fills) == 5 and all(o.is_terminal for o in orders)
                if done and len(orders) == 4 and stored.keys() == {e.event_id for e in seen}:
                    break
                await asyncio.sleep(0.05)
        assert record is not None and record.position.closed and record.position.realised_pnl == D("1.5869")
        assert [o.executed_qty for o in orders] == [D("1.0"), D("0.5"), D("0.75"), D("0.75")]
        assert seen and len({e.event_id for e in seen}) == len(seen)  # every stored change published once
        assert all(e.event_id == PositionChanged.id_for(account, "BTC", "edge70", e.cause_trade_id) for e in seen)
        assert await queries.open_positions(redis, account) == []
    finally:
        for c in consumers:
            await c.stop()
        await publisher.close()
        await redis.aclose()
        await app.aclose()


async def test_main_loads_the_simulators_filters_reports_ready_and_tracks(shared_data, amqp_url, redis_url):
    """The process body (`main`) against the exchange simulator: /ready once the filters are loaded and the
    consumer runs; a report published on bt.account lands in Redis; SIGTERM (the stop event) shuts it down."""
    import socket

    import httpx

    from services.exchange_simulator.testing import running_simulator
    from services.trackers.main import main
    from tests.simulator.conftest import make_settings

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    account = f"it-{uuid.uuid4().hex[:12]}"
    sim_conf = make_settings(shared_data, sim_symbols="BTCUSDT", sim_start="2021-03-01")
    async with running_simulator(sim_conf) as sim:
        settings = TrackersSettings(
            amqp_url=amqp_url, redis_url=redis_url, exchange="simulator", simulator_url=sim.base_url, health_port=port
        )
        stop = asyncio.Event()
        task = asyncio.create_task(main(settings, stop))
        redis = Redis.from_url(redis_url)
        publisher = AmqpBus(BusSettings(amqp_url=amqp_url), RedisIdempotencyStore(redis), "trackers-test")
        try:
            async with httpx.AsyncClient() as http, asyncio.timeout(30):
                while True:
                    try:
                        if (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
            await publisher.connect()
            await publisher.publish_many(trade_reports(account)[:3])  # order 1: NEW + two fills
            async with asyncio.timeout(20):
                while True:
                    orders = await queries.orders(redis, account, "BTCUSDT")
                    if orders and orders[0].is_terminal:
                        break
                    await asyncio.sleep(0.05)
            (position,) = await queries.open_positions(redis, account)
            assert position.quantity == D("1.0") and position.edge == "edge70" and not position.closed
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
            await publisher.close()
            await redis.aclose()
            await _delete_queue(amqp_url, trackers_execution_reports().queue)  # leave the test vhost clean


async def _delete_queue(amqp_url: str, name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(name)
    finally:
        await connection.close()
