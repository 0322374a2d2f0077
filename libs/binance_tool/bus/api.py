"""The message-bus interface every service codes against.

The real implementation (`binance_tool.bus.amqp.AmqpBus`) runs on aio-pika and RabbitMQ quorum queues; the
in-memory fake (`binance_tool.bus.memory.InMemoryBus`) implements the same contract for unit tests and the
backtester's parity tests.

Delivery contract (both implementations):
- `publish` returns only once the broker has confirmed the message (publisher confirms); the AMQP message is
  persistent, `message_id = event_id`, `type = object_type`, `correlation_id` set, body = the event's JSON.
- a consumer's handler is awaited for each delivery and the message is acked only after it returns (the effect
  is stored); a handler that raises → the message is requeued, and after `delivery_limit` deliveries RabbitMQ
  dead-letters it; a body that is not a valid, expected message → dead-letter queue at once, with the reason in
  the `x-error` header and an error log naming the queue; the consumer keeps consuming.
- with `dedup=True`, deliveries whose `event_id` was already handled by this subscription are acked without
  calling the handler (Redis `SET NX` with a TTL, see `IdempotencyStore`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from binance_tool.events import Envelope


@dataclass(frozen=True)
class Binding:
    exchange: str
    routing_key: str  # topic pattern, e.g. "candle.closed.1d.*"


@dataclass(frozen=True)
class Subscription:
    """One durable quorum queue of one consuming service."""

    queue: str
    bindings: tuple[Binding, ...]
    accepts: tuple[type[Envelope], ...]
    description: str = ""
    prefetch: int = 50
    delivery_limit: int = 5
    dedup: bool = True
    dedup_ttl_s: int = 7 * 24 * 3600
    extra_arguments: dict[str, object] = field(default_factory=dict)
    # None: a batch's handlers run one after the other, in delivery order.  A function: deliveries with different
    # keys may be handled concurrently (those with the same key still one after the other, in delivery order) —
    # for handlers whose effects on different keys are independent (e.g. positions of different symbols).
    ordering_key: Callable[[Envelope], str] | None = field(default=None, compare=False)


@dataclass(frozen=True)
class Delivery:
    """What a handler learns about the AMQP delivery besides the decoded event."""

    queue: str
    routing_key: str
    redelivered: bool
    delivery_count: int  # from the quorum queue's x-delivery-count header (0 on first delivery)


Handler = Callable[[Envelope, Delivery], Awaitable[None]]


class Publisher(Protocol):
    async def publish(self, event: Envelope) -> None:
        """Publish and wait for the broker's confirm."""

    async def publish_many(self, events: Sequence[Envelope]) -> None:
        """Publish all, confirms pipelined; returns when every one is confirmed (raises if any is not)."""


class ConsumerHandle(Protocol):
    async def stop(self) -> None:
        """Stop taking new deliveries, let in-flight handlers finish (they ack), then cancel."""


class MessageBus(Publisher, Protocol):
    async def connect(self) -> None: ...

    async def close(self) -> None: ...

    async def declare(self, subscriptions: Sequence[Subscription] = ()) -> None:
        """Declare every exchange, the dead-letter exchange and queue, and these subscriptions' queues."""

    async def consume(self, subscription: Subscription, handler: Handler) -> ConsumerHandle: ...
