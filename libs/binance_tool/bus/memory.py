"""`InMemoryBus`: the `MessageBus` contract in-process, for unit tests and the backtester's parity tests.

Like the broker: topic exchanges from the topology (`*` = one word, `#` = zero or more), one copy per matching
queue, per-queue FIFO, handlers awaited sequentially per queue, ack after the handler returns.  Every event is
serialised to JSON on publish and decoded again on delivery (`decode(body, subscription.accepts)`), so tests
catch serialisation bugs.  A malformed/unexpected body goes to `dead_letters` at once with the reason; a
handler that raises is requeued at the back of the queue (like RabbitMQ 3.x quorum queues) and dead-lettered
once its delivery count would exceed `delivery_limit`.  Dedup uses an `IdempotencyStore` (by default an
`InMemoryIdempotencyStore`) with the same claim/complete protocol as `AmqpBus`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog

from binance_tool.bus import topology
from binance_tool.bus.api import Delivery, Handler, Subscription
from binance_tool.bus.errors import NotConnected, PublishFailed
from binance_tool.events import Envelope, MalformedMessage, decode
from binance_tool.state.idempotency import ClaimResult, IdempotencyStore, InMemoryIdempotencyStore


@dataclass(frozen=True)
class DeadLetter:
    queue: str
    routing_key: str
    body: bytes
    reason: str  # the x-error text, or "delivery_limit"
    headers: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class _Message:
    exchange: str
    routing_key: str
    body: bytes
    headers: dict[str, Any]
    delivery_count: int = 0


@dataclass
class _Queue:
    subscription: Subscription
    messages: deque[_Message] = field(default_factory=deque)
    busy: bool = False
    consumer: _MemoryConsumer | None = None
    wakeup: asyncio.Event = field(default_factory=asyncio.Event)


class _MemoryConsumer:
    def __init__(self, bus: InMemoryBus, queue: _Queue, handler: Handler) -> None:
        self._bus = bus
        self._queue = queue
        self._handler = handler
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"memory-consumer:{queue.subscription.queue}")

    async def stop(self) -> None:
        """Let the in-flight delivery finish, then stop taking new ones (queued messages stay queued)."""
        self._stopping = True
        self._queue.wakeup.set()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if self._queue.consumer is self:
            self._queue.consumer = None

    async def _run(self) -> None:
        queue = self._queue
        while not self._stopping:
            if not queue.messages:
                queue.wakeup.clear()
                await queue.wakeup.wait()
                continue
            message = queue.messages.popleft()
            queue.busy = True
            try:
                await self._bus._deliver(queue, message, self._handler)
            finally:
                queue.busy = False


class InMemoryBus:
    """In-process implementation of `binance_tool.bus.api.MessageBus` with test inspection helpers."""

    def __init__(
        self, idempotency: IdempotencyStore | None = None, logger: Any = None, *, lease_ms: int = 30_000
    ) -> None:
        self._store = idempotency if idempotency is not None else InMemoryIdempotencyStore()
        self._log = (logger or structlog.get_logger()).bind(component="bus", bus="memory")
        self._lease_ms = lease_ms
        self._connected = False
        self._exchanges = {*topology.exchange_names(), topology.DEAD_LETTER_EXCHANGE}
        self._queues: dict[str, _Queue] = {}
        self.published: list[Envelope] = []
        self.dead_letters: list[DeadLetter] = []

    async def connect(self) -> None:
        self._connected = True

    async def close(self) -> None:
        for queue in self._queues.values():
            if queue.consumer is not None:
                await queue.consumer.stop()
        self._connected = False

    async def declare(self, subscriptions: Sequence[Subscription] = ()) -> None:
        topology.check_bindings(subscriptions)
        for sub in subscriptions:
            topology.queue_arguments(sub)  # same validation as the broker path
            existing = self._queues.get(sub.queue)
            if existing is None:
                self._queues[sub.queue] = _Queue(sub)
            elif existing.subscription != sub:
                raise ValueError(f"queue {sub.queue!r} already declared with a different subscription")

    # -- publishing --------------------------------------------------------------------------------------
    async def publish(self, event: Envelope) -> None:
        self._require_connected()
        self.published.append(event)
        await self.publish_raw(event.EXCHANGE, event.routing_key(), event.to_json())

    async def publish_many(self, events: Sequence[Envelope]) -> None:
        for event in events:
            await self.publish(event)

    async def publish_raw(
        self, exchange: str, routing_key: str, body: bytes, headers: Mapping[str, Any] | None = None
    ) -> None:
        """Publish any body (e.g. a malformed one in a test); routed like the broker would."""
        self._require_connected()
        if exchange not in self._exchanges:
            raise PublishFailed(f"publish to {exchange!r} ({routing_key}) failed: no such exchange")
        for queue in self._queues.values():
            if any(
                b.exchange == exchange and topology.topic_matches(b.routing_key, routing_key)
                for b in queue.subscription.bindings
            ):
                queue.messages.append(_Message(exchange, routing_key, body, dict(headers or {})))
                queue.wakeup.set()

    def _require_connected(self) -> None:
        if not self._connected:
            raise NotConnected("InMemoryBus is not connected: call `await bus.connect()` first")

    # -- consuming ---------------------------------------------------------------------------------------
    async def consume(self, subscription: Subscription, handler: Handler) -> _MemoryConsumer:
        self._require_connected()
        await self.declare([subscription])
        queue = self._queues[subscription.queue]
        if queue.consumer is not None:
            raise ValueError(f"queue {subscription.queue!r} already has a consumer in InMemoryBus")
        queue.consumer = _MemoryConsumer(self, queue, handler)
        return queue.consumer

    async def _deliver(self, queue: _Queue, message: _Message, handler: Handler) -> None:
        sub = queue.subscription
        try:
            event = decode(message.body, sub.accepts)
        except MalformedMessage as exc:
            self._log.error("malformed message dead-lettered", queue=sub.queue, reason=str(exc))
            self._dead_letter(queue, message, str(exc))
            return
        event_id = str(event.event_id)
        if sub.dedup:
            (claim,) = await self._store.claim_many(sub.queue, [event_id], self._lease_ms)
            if claim is ClaimResult.DONE:
                return
            if claim is ClaimResult.BUSY:  # another consumer sharing the store holds it: try again later
                queue.messages.append(message)
                await asyncio.sleep(0.01)
                return
        delivery = Delivery(sub.queue, message.routing_key, message.delivery_count > 0, message.delivery_count)
        try:
            await handler(event, delivery)
        except Exception as exc:
            if sub.dedup:
                await self._store.release_many(sub.queue, [event_id])
            self._log.error(
                "handler failed; message requeued", queue=sub.queue, event_id=event_id, error=repr(exc), exc_info=exc
            )
            message.delivery_count += 1
            if message.delivery_count > sub.delivery_limit:
                self._dead_letter(queue, message, "delivery_limit")
            else:
                queue.messages.append(message)
            return
        if sub.dedup:
            await self._store.complete_many(sub.queue, [event_id], sub.dedup_ttl_s)

    def _dead_letter(self, queue: _Queue, message: _Message, reason: str) -> None:
        headers = {
            **message.headers,
            topology.HEADER_ERROR: reason,
            topology.HEADER_ORIGINAL_QUEUE: queue.subscription.queue,
            topology.HEADER_ORIGINAL_ROUTING_KEY: message.routing_key,
            topology.HEADER_ORIGINAL_EXCHANGE: message.exchange,
        }
        self.dead_letters.append(
            DeadLetter(queue.subscription.queue, message.routing_key, message.body, reason, headers)
        )

    async def drain(self, timeout_s: float = 5.0) -> None:
        """Wait until every queue is empty and idle (handlers may publish more: those are drained too)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while any(q.messages or q.busy for q in self._queues.values()):
            if loop.time() > deadline:
                pending = {name: len(q.messages) for name, q in self._queues.items() if q.messages or q.busy}
                raise TimeoutError(f"InMemoryBus.drain: queues not empty after {timeout_s}s: {pending}")
            await asyncio.sleep(0.001)
