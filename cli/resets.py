"""Reset a local (demo/test) environment: its Redis database and the bus queues it owns."""

from __future__ import annotations

import aio_pika
from redis.asyncio import Redis

from binance_tool.bus.topology import DEAD_LETTER_QUEUE
from services.subscriptions import ALL_SUBSCRIPTIONS


async def reset_bus_and_state(amqp_url: str, redis_url: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        await redis.flushdb()
    finally:
        await redis.aclose()
    connection = await aio_pika.connect(amqp_url)
    try:
        for name in [s.queue for s in ALL_SUBSCRIPTIONS] + [DEAD_LETTER_QUEUE]:
            channel = await connection.channel()
            await channel.queue_delete(name)
            await channel.close()
    finally:
        await connection.close()
