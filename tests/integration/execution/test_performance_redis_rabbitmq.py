"""performance on real Redis and RabbitMQ: events published on the bus → Redis state + EdgePerformanceUpdated;
the same event twice counted once; concurrent writers on one edge converge.

Each test uses its own Redis key prefix and account (nothing is flushed) and uniquely named, expiring queues."""

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
from binance_tool.events import (
    Direction,
    EdgePerformanceUpdated,
    EntrySized,
    Envelope,
    Market,
    PositionChanged,
    SendUserMessage,
    deterministic_id,
)
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.state.idempotency import RedisIdempotencyStore
from services.performance import queries
from services.performance.main import build
from services.performance.service import fact_of
from services.performance.settings import PerformanceSettings
from services.performance.store import InMemoryPerformanceStore, RedisPerformanceStore
from services.performance.subscriptions import performance_edge_events
from tests.builders import edge70_signal

pytestmark = pytest.mark.integration
DAY = 86_400_000
T0 = 1_704_412_800_000  # 2024-01-05 00:00 UTC


def sized(signal_id: uuid.UUID, symbol: str, accepted: bool, refusal: str | None = None) -> EntrySized:
    return EntrySized(
        event_id=deterministic_id("sized", signal_id), correlation_id=signal_id, ts_event_ms=T0, ts_init_ms=T0,
        edge="edge70", signal_event_id=signal_id, market=Market.spot(symbol[:-4], "USDT"), signal_price=D(100),
        limit_price=None, stop_price=None, accepted=accepted, quantity=D(1) if accepted else D(0),
        binding="risk", refusal=refusal, reason=refusal or "sized", trading_mode="active", portfolio_value=D(1000),
        free_quote=D(1000), reserved_quote=D(0), open_risk=D(0), open_positions=0, caps={}, rules={},
    )  # fmt: skip


def changed(account: str, change: str, trade_id: int, pnl: str, cost: str, opened: int, closed: int | None):
    return PositionChanged(
        event_id=PositionChanged.id_for(account, "BTC", "edge70", trade_id), correlation_id=uuid.uuid4(),
        ts_event_ms=closed or opened, ts_init_ms=0, account=account, change=change, edge="edge70",
        base_asset="BTC", quote_asset="USDT", symbol="BTCUSDT", cause_trade_id=trade_id,
        quantity=D(0) if closed else D(1), average_entry_price=None if closed else D(100), realised_pnl=D(pnl),
        fees_quote=D(0), opened_at_ms=opened, closed_at_ms=closed, period_realised_pnl=D(pnl), period_cost=D(cost),
    )  # fmt: skip


def history(account: str) -> list[Envelope]:
    """BTC: entered, +10 % paper / +8 real; ETH: refused, −20 % paper; SOL: not sized, still open."""
    b_long, b_short, e_long, e_short, s_long = (uuid.uuid4() for _ in range(5))
    return [
        edge70_signal("BTCUSDT", Direction.LONG, D(100), b_long, ts_ms=T0),
        sized(b_long, "BTCUSDT", True),
        changed(account, "opened", 1, "0", "100.1", T0 + 1000, None),
        edge70_signal("BTCUSDT", Direction.SHORT, D(110), b_short, ts_ms=T0 + 10 * DAY),
        changed(account, "closed", 2, "8", "100.1", T0 + 1000, T0 + 10 * DAY + 1000),
        edge70_signal("ETHUSDT", Direction.LONG, D(10), e_long, ts_ms=T0 + DAY),
        sized(e_long, "ETHUSDT", False, "max-open-positions"),
        edge70_signal("ETHUSDT", Direction.SHORT, D(8), e_short, ts_ms=T0 + 40 * DAY),
        edge70_signal("SOLUSDT", Direction.LONG, D(20), s_long, ts_ms=T0 + 2 * DAY),
    ]


async def test_events_on_the_bus_become_edge_results_in_redis_once_each(amqp_url, redis_url):
    tag = uuid.uuid4().hex[:10]
    account, prefix = f"it-{tag}", f"it-performance-{tag}"
    settings = PerformanceSettings(amqp_url=amqp_url, redis_url=redis_url, performance_account=account,
                                   performance_key_prefix=prefix)  # fmt: skip
    app = await build(settings, exchange=FakeSpotExchange(), clock=FixedClock(T0 + 50 * DAY))
    subscription = dataclasses.replace(
        performance_edge_events(), queue=f"test.performance.{tag}", extra_arguments={"x-expires": 60000}
    )
    observer = Subscription(
        queue=f"test.performance-observer.{tag}",
        bindings=(
            Binding(EdgePerformanceUpdated.EXCHANGE, "edge-performance.#"),
            Binding(SendUserMessage.EXCHANGE, "user-message.edge-performance"),
        ),
        accepts=(EdgePerformanceUpdated, SendUserMessage),
        extra_arguments={"x-expires": 60000},
    )
    redis = Redis.from_url(redis_url)
    publisher = AmqpBus(BusSettings(amqp_url=amqp_url), RedisIdempotencyStore(redis), "performance-test")
    events = history(account)
    mine = {e.event_id for e in events}
    updates: list[EdgePerformanceUpdated] = []
    messages: list[SendUserMessage] = []

    async def collect(event, delivery=None):
        if isinstance(event, EdgePerformanceUpdated) and event.cause_event_id in mine:
            updates.append(event)
        elif isinstance(event, SendUserMessage) and event.correlation_id in {e.correlation_id for e in events}:
            messages.append(event)

    consumers = []
    try:
        await publisher.connect()
        await app.bus.declare([subscription, observer])
        consumers.append(await publisher.consume(observer, collect))
        consumers.append(await app.bus.consume(subscription, app.edges.on_event))
        await publisher.publish_many(events)
        await publisher.publish_many([events[4], events[7]])  # the closes again: the bus's dedup drops them
        async with asyncio.timeout(20):
            while True:
                view = await queries.edge_view(redis, "edge70", prefix)
                t = view.book.all_time
                if t.real.closed and t.signals.closed == 2 and len(view.signal_trades) == 3 and len(updates) >= 3:
                    break
                await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # let any (wrong) double count land
        view = await queries.edge_view(redis, "edge70", prefix)
        t = view.book.all_time
        assert (t.real.closed, t.real.wins, t.real.pnl_sum, t.real.cost_sum) == (1, 1, D(8), D("100.1"))
        assert (t.signals.closed, t.entered.closed, t.not_entered.closed) == (2, 1, 1)
        assert t.signals.return_pct_sum == D(10) + D(-20)
        assert t.refusals == {"max-open-positions": 1}
        assert sorted(view.book.months) == ["2024-01", "2024-02"]
        assert [(s.symbol, s.entered, s.not_entered_reason) for s in view.signal_trades] == [
            ("BTCUSDT", True, None), ("ETHUSDT", False, "max-open-positions"), ("SOLUSDT", False, "not sized"),
        ]  # fmt: skip
        assert [c.return_pct for c in view.closed_positions] == [(D(8) / D("100.1") * 100).quantize(D("0.0001"))]
        assert await queries.edges(redis, prefix) == ["edge70"]
        assert len({u.event_id for u in updates}) == len(updates)  # each update once
        assert {"Edge70Signal", "PositionChanged"} <= {u.cause_type for u in updates}
        assert any(u.all_time == t for u in updates)  # the last change published the final totals
        assert len(messages) == 3  # BTC trade closed, BTC position closed, ETH trade closed
    finally:
        for c in consumers:
            await c.stop()
        await publisher.close()
        await _delete_prefix(redis, prefix)
        await redis.aclose()
        await app.aclose()


async def test_concurrent_writers_with_redeliveries_end_like_one_writer(redis_url):
    tag = uuid.uuid4().hex[:10]
    account, prefix = f"it-{tag}", f"it-performance-{tag}"
    facts = [f for f in (fact_of(e, account) for e in history(account)) if f is not None]
    reference = InMemoryPerformanceStore()
    for f in facts:
        await reference.apply(f)
    clients = [Redis.from_url(redis_url), Redis.from_url(redis_url)]
    stores = [RedisPerformanceStore(c, prefix) for c in clients]
    try:
        jobs = [(s, f) for s in stores for f in facts] * 2  # every fact to both writers, twice, all at once
        random.Random(5).shuffle(jobs)
        await asyncio.gather(*(s.apply(f) for s, f in jobs))
        assert await stores[0].book("edge70") == await reference.book("edge70")
        assert await stores[1].markets("edge70") == await reference.markets("edge70")
        assert sum(s.conflicts for s in stores) > 0  # the optimistic transactions did race
    finally:
        await _delete_prefix(clients[0], prefix)
        for c in clients:
            await c.aclose()


async def _delete_prefix(redis: Redis, prefix: str) -> None:
    """This test's keys only (the database is shared: never FLUSHDB)."""
    keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
    if keys:
        await redis.delete(*keys)


async def test_main_reports_ready_counts_a_signal_trade_and_stops(amqp_url, redis_url):
    """The process body (`main`): /ready once consuming, a report at start, a signal trade from the bus into
    Redis, and a clean stop on the stop event (SIGTERM)."""
    import socket

    import httpx

    from services.performance.main import main

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    tag = uuid.uuid4().hex[:10]
    prefix = f"it-performance-{tag}"
    queue = f"test.performance.main.{tag}"  # never the production queue: the test vhost is shared
    settings = PerformanceSettings(amqp_url=amqp_url, redis_url=redis_url, health_port=port,
                                   performance_account=f"it-{tag}", performance_key_prefix=prefix,
                                   performance_queue=queue, performance_queue_expires_ms=60_000)  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(main(settings, stop))
    redis = Redis.from_url(redis_url)
    publisher = AmqpBus(BusSettings(amqp_url=amqp_url), RedisIdempotencyStore(redis), "performance-test")
    try:
        async with httpx.AsyncClient() as http, asyncio.timeout(30):
            while True:
                try:
                    if (await http.get(f"http://127.0.0.1:{port}/ready")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        assert await _queue_exists(amqp_url, queue)  # main consumes the queue PERFORMANCE_QUEUE names
        await publisher.connect()
        await publisher.publish_many([
            edge70_signal("BTCUSDT", Direction.LONG, D(100), uuid.uuid4(), ts_ms=T0),
            edge70_signal("BTCUSDT", Direction.SHORT, D(95), uuid.uuid4(), ts_ms=T0 + DAY),
        ])  # fmt: skip
        async with asyncio.timeout(20):
            while True:
                if (await queries.edge_view(redis, "edge70", prefix)).book.all_time.signals.closed == 1:
                    break
                await asyncio.sleep(0.05)
        book = (await queries.edge_view(redis, "edge70", prefix)).book
        assert book.all_time.not_entered.return_pct_sum == D(-5)
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        await publisher.close()
        await _delete_prefix(redis, prefix)
        await redis.aclose()
        await _delete_queue(amqp_url, queue)  # this test's own queue (it would expire after 60 s anyway)


async def _queue_exists(amqp_url: str, name: str) -> bool:
    import aio_pika
    from aiormq.exceptions import ChannelNotFoundEntity

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        try:
            await channel.declare_queue(name, passive=True)
        except ChannelNotFoundEntity:
            return False
        return True
    finally:
        await connection.close()


async def _delete_queue(amqp_url: str, name: str) -> None:
    import aio_pika

    connection = await aio_pika.connect(amqp_url)
    try:
        channel = await connection.channel()
        await channel.queue_delete(name)
    finally:
        await connection.close()
