from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import aio_pika
import pytest
from redis.asyncio import Redis

from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Subscription
from binance_tool.config.settings import BusSettings
from binance_tool.events import CandleClosed, Market
from binance_tool.state.idempotency import RedisIdempotencyStore

AMQP_URL = "amqp://guest:guest@127.0.0.1:5672/"
REDIS_URL = "redis://127.0.0.1:6379/15"


def candle(open_time_ms: int, interval: str, event_id: uuid.UUID | None = None) -> CandleClosed:
    return CandleClosed(
        event_id=event_id or uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        ts_event_ms=open_time_ms,
        ts_init_ms=open_time_ms,
        market=Market.spot("BTC", "USDT"),
        interval=interval,
        open_time_ms=open_time_ms,
        close_time_ms=open_time_ms + 59_999,
        open=Decimal("1.5"),
        high=Decimal(2),
        low=Decimal(1),
        close=Decimal("1.75"),
        volume=Decimal(10),
    )


class Topo:
    """A unique queue + routing key per test, deleted afterwards; plus a probe queue on bt.dlx for it."""

    def __init__(self, channel: aio_pika.abc.AbstractChannel) -> None:
        self.channel = channel
        self.tag = uuid.uuid4().hex[:10]
        self.interval = f"t{self.tag}"  # candles with this interval only reach this test's queue
        self.queues: list[str] = []

    def subscription(self, **kw: object) -> Subscription:
        args: dict[str, object] = {
            "queue": f"test.bus.{self.tag}",
            "bindings": (Binding("bt.market-data", f"candle.closed.{self.interval}.*"),),
            "accepts": (CandleClosed,),
            "prefetch": 20,
        }
        args.update(kw)
        self.queues.append(str(args["queue"]))
        return Subscription(**args)  # type: ignore[arg-type]

    def candle(self, i: int, event_id: uuid.UUID | None = None) -> CandleClosed:
        return candle(i, self.interval, event_id)

    async def dead_letter_probe(self, source_queue: str) -> aio_pika.abc.AbstractQueue:
        probe = await self.channel.declare_queue(f"{source_queue}.dlx-probe", durable=False, auto_delete=True)
        await probe.bind("bt.dlx", source_queue)
        self.queues.append(probe.name)
        return probe


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url(REDIS_URL)
    yield client
    await client.aclose()


@pytest.fixture
async def bus(redis_client: Redis) -> AsyncIterator[AmqpBus]:
    b = AmqpBus(
        BusSettings(amqp_url=AMQP_URL),
        RedisIdempotencyStore(redis_client),
        "test-bus",
        publish_deadline_s=3.0,
        dedup_lease_ms=2_000,
    )
    await b.connect()
    yield b
    await b.close()


@pytest.fixture
async def topo() -> AsyncIterator[Topo]:
    connection = await aio_pika.connect(AMQP_URL)
    channel = await connection.channel()
    t = Topo(channel)
    yield t
    cleanup = await connection.channel()
    for name in t.queues:
        try:
            await cleanup.queue_delete(name)
        except Exception:
            cleanup = await connection.channel()
    await connection.close()


@pytest.fixture
def make_topo_candle(topo: Topo) -> Callable[[int], CandleClosed]:
    return topo.candle
