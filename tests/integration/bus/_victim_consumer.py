"""A consumer process for the kill test: handles candles by counting each event id in a Redis hash."""

from __future__ import annotations

import asyncio
import sys

from redis.asyncio import Redis

from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Delivery, Subscription
from binance_tool.config.settings import BusSettings
from binance_tool.events import CandleClosed, Envelope
from binance_tool.state.idempotency import RedisIdempotencyStore


async def main(queue: str, pattern: str, effects_key: str, lease_ms: int) -> None:
    redis = Redis.from_url("redis://127.0.0.1:6379/15")
    bus = AmqpBus(BusSettings(), RedisIdempotencyStore(redis, "victim"), "victim", dedup_lease_ms=lease_ms)
    await bus.connect()
    sub = Subscription(queue, (Binding("bt.market-data", pattern),), (CandleClosed,), prefetch=20)

    async def handler(event: Envelope, delivery: Delivery) -> None:
        await redis.hincrby(effects_key, str(event.event_id), 1)  # the effect, stored before the ack
        await asyncio.sleep(0.002)

    await bus.consume(sub, handler)
    print("ready", flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])))
