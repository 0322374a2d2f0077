"""Write many confirmed publishes to an aiormq channel in one frame buffer (one socket write per batch).

aiormq's `basic_publish` writes each message separately and wakes the event loop several times per message;
on a 2-core machine shared with the broker that caps confirmed throughput near 4k msgs/s.  This helper does
what `basic_publish` does for a whole batch under the channel lock: take the next delivery tags, register one
confirmation future per message in `channel.confirmations` (aiormq resolves them on Basic.Ack/Nack, also
`multiple=True`, and rejects them if the channel closes), then queue all frames as one `ChannelFrame`.

It uses aiormq attributes that are public but not documented as API (`lock`, `delivery_tag`, `confirmations`,
`write_queue`, `max_content_size`, `number`); `supported()` checks them so the caller can fall back to
`basic_publish` if a future aiormq changes them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiormq import spec
from aiormq.abc import ChannelFrame
from aiormq.exceptions import ChannelInvalidStateError
from pamqp.body import ContentBody
from pamqp.header import ContentHeader

Item = tuple[str, str, bytes, spec.Basic.Properties]  # exchange, routing key, body, properties

_REQUIRED = ("lock", "delivery_tag", "confirmations", "write_queue", "max_content_size", "number", "create_future")


def supported(channel: Any) -> bool:
    return all(hasattr(channel, name) for name in _REQUIRED) and bool(getattr(channel, "publisher_confirms", False))


async def write_batch(channel: Any, items: Sequence[Item]) -> list[asyncio.Future[Any]]:
    """Queue every item for sending; return one confirmation future per item (in order)."""
    if channel.is_closed:
        raise ChannelInvalidStateError(f"{channel!r} closed")
    futures: list[asyncio.Future[Any]] = []
    frames: list[Any] = []
    max_size = channel.max_content_size
    async with channel.lock:
        start_tag = channel.delivery_tag
        for exchange, routing_key, body, properties in items:
            channel.delivery_tag += 1
            future = channel.create_future()
            channel.confirmations[channel.delivery_tag] = future
            futures.append(future)
            frames.append(spec.Basic.Publish(exchange=exchange, routing_key=routing_key, mandatory=False))
            frames.append(ContentHeader(properties=properties, body_size=len(body)))
            frames.extend(ContentBody(body[i : i + max_size]) for i in range(0, len(body), max_size))
        try:
            await channel.write_queue.put(ChannelFrame.marshall(channel_number=channel.number, frames=frames))
        except BaseException:
            # Nothing was queued: give the delivery tags back, as basic_publish does.
            for tag in range(start_tag + 1, channel.delivery_tag + 1):
                channel.confirmations.pop(tag, None)
            channel.delivery_tag = start_tag
            for future in futures:
                future.cancel()
            raise
    return futures
