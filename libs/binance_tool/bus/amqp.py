"""`MessageBus` on aio-pika / RabbitMQ: robust connection, confirmed persistent publishes, quorum consumers.

Publishing: one channel with publisher confirms.  `publish` awaits the confirm; `publish_many` pipelines the
confirms (all publishes in flight, then gather).  A publish that fails because the connection or channel is
down (or is nacked) is retried with exponential backoff until `publish_deadline_s`, then `PublishFailed` is
raised; a retried publish may reach the broker twice, which consumers' dedup absorbs.  A publish to an
exchange that does not exist fails at once.

Consuming: see `binance_tool.bus.consumer.AmqpConsumer` (micro-batches, Redis dedup, ack after the effect).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import aio_pika
import structlog
from aio_pika.abc import AbstractExchange, AbstractRobustChannel, AbstractRobustConnection
from aiormq import spec
from aiormq.exceptions import AMQPConnectionError, ChannelClosed, ChannelInvalidStateError, DeliveryError
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from binance_tool.bus import _batch_publish, topology
from binance_tool.bus.api import Handler, Subscription
from binance_tool.bus.consumer import AmqpConsumer
from binance_tool.bus.errors import NotConnected, PublishFailed
from binance_tool.config.settings import BusSettings
from binance_tool.events import Envelope
from binance_tool.state.idempotency import IdempotencyStore

_BATCH = 200  # publishes written to the socket at once by publish_many
_WINDOW = 2000  # publishes awaiting their confirm at once (aiormq scans all pending on each multi-ack)


def _is_transient(exc: BaseException) -> bool:
    """Worth retrying: the connection/channel is down or closing, the confirm timed out, or the broker nacked."""
    if isinstance(exc, ChannelClosed):  # e.g. NOT_FOUND for a missing exchange: a programming error
        return False
    return isinstance(
        exc, AMQPConnectionError | ChannelInvalidStateError | ConnectionError | TimeoutError | DeliveryError
    )


class AmqpBus:
    """RabbitMQ implementation of `binance_tool.bus.api.MessageBus`."""

    def __init__(
        self,
        settings: BusSettings,
        idempotency: IdempotencyStore | None,
        service: str,
        logger: Any = None,
        *,
        publish_deadline_s: float = 30.0,
        confirm_timeout_s: float = 10.0,
        dedup_lease_ms: int = 30_000,
        batch_window_s: float = 0.002,
        stop_timeout_s: float = 30.0,
    ) -> None:
        self._settings = settings
        self._store = idempotency
        self._service = service
        self._log = (logger or structlog.get_logger()).bind(component="bus", service=service)
        self._publish_deadline_s = publish_deadline_s
        self._confirm_timeout_s = confirm_timeout_s
        self._dedup_lease_ms = dedup_lease_ms
        self._batch_window_s = batch_window_s
        self._stop_timeout_s = stop_timeout_s
        self._connection: AbstractRobustConnection | None = None
        self._publish_channel: AbstractRobustChannel | None = None
        self._consumers: list[AmqpConsumer] = []

    # -- lifecycle ---------------------------------------------------------------------------------------
    async def connect(self) -> None:
        if self._connection is not None:
            return
        self._connection = await aio_pika.connect_robust(
            self._settings.amqp_url.get_secret_value(),
            client_properties={"connection_name": self._service},
        )
        self._connection.reconnect_callbacks.add(self._on_reconnect)
        self._publish_channel = await self._connection.channel(publisher_confirms=True)
        self._log.info("bus connected")

    def _on_reconnect(self, *_: Any) -> None:
        self._log.warning("bus reconnected; consumers and channels restored")

    async def close(self) -> None:
        for consumer in list(self._consumers):
            await consumer.stop()
        self._consumers.clear()
        if self._connection is not None:
            await self._connection.close()
        self._connection = None
        self._publish_channel = None

    @property
    def connection(self) -> AbstractRobustConnection:
        if self._connection is None:
            raise NotConnected("AmqpBus is not connected: call `await bus.connect()` first")
        return self._connection

    # -- topology ----------------------------------------------------------------------------------------
    async def declare(self, subscriptions: Sequence[Subscription] = ()) -> None:
        topology.check_bindings(subscriptions)
        channel = await self.connection.channel()
        try:
            exchanges: dict[str, AbstractExchange] = {}
            for name in (*topology.exchange_names(), topology.DEAD_LETTER_EXCHANGE):
                exchanges[name] = await channel.declare_exchange(name, aio_pika.ExchangeType.TOPIC, durable=True)
            dlq = await channel.declare_queue(
                topology.DEAD_LETTER_QUEUE, durable=True, arguments=topology.dead_letter_queue_arguments()
            )
            await dlq.bind(exchanges[topology.DEAD_LETTER_EXCHANGE], "#")
            for sub in subscriptions:
                queue = await channel.declare_queue(sub.queue, durable=True, arguments=topology.queue_arguments(sub))
                for binding in sub.bindings:
                    await queue.bind(exchanges[binding.exchange], binding.routing_key)
        finally:
            await channel.close()
        self._log.info("bus topology declared", queues=[s.queue for s in subscriptions])

    # -- publishing --------------------------------------------------------------------------------------
    def _properties(self, event: Envelope) -> spec.Basic.Properties:
        return spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=2,  # persistent
            message_id=str(event.event_id),
            correlation_id=str(event.correlation_id),
            message_type=event.object_type,  # type: ignore[attr-defined]
            timestamp=datetime.now(tz=UTC),
            app_id=self._service,
            headers={topology.HEADER_VERSION: event.version},  # type: ignore[attr-defined]
        )

    async def _send(self, exchange: str, routing_key: str, body: bytes, properties: spec.Basic.Properties) -> None:
        """Publish and await the confirm; retry transient failures with backoff until the deadline."""
        try:
            await self._send_once(exchange, routing_key, body, properties)
            return
        except Exception as exc:
            if not _is_transient(exc):
                raise PublishFailed(f"publish to {exchange!r} ({routing_key}) failed: {exc!r}") from exc
            self._log.warning("publish failed, retrying", exchange=exchange, routing_key=routing_key, error=repr(exc))
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_delay(self._publish_deadline_s),
                wait=wait_exponential(multiplier=0.05, max=2.0),
                retry=retry_if_exception(_is_transient),
                reraise=True,
            ):
                with attempt:
                    await self._send_once(exchange, routing_key, body, properties)
        except Exception as exc:
            raise PublishFailed(
                f"publish to {exchange!r} ({routing_key}) not confirmed within {self._publish_deadline_s}s: {exc!r}"
            ) from exc

    async def _send_once(self, exchange: str, routing_key: str, body: bytes, properties: spec.Basic.Properties) -> None:
        # aiormq directly (not aio_pika.Exchange.publish): `wait=False` does not hold the channel lock until the
        # frame hits the socket, so confirms pipeline and throughput is ~5x higher.  The confirm is still awaited.
        channel = await self._underlay()
        await channel.basic_publish(
            body,
            exchange=exchange,
            routing_key=routing_key,
            properties=properties,
            mandatory=False,
            timeout=self._confirm_timeout_s,
            wait=False,
        )

    async def publish(self, event: Envelope) -> None:
        await self._send(event.EXCHANGE, event.routing_key(), event.to_json(), self._properties(event))

    async def publish_raw(
        self, exchange: str, routing_key: str, body: bytes, headers: Mapping[str, Any] | None = None
    ) -> None:
        """Publish an arbitrary body (persistent, confirmed): dead-lettering, DLQ replay, tests."""
        properties = spec.Basic.Properties(
            content_type="application/json",
            delivery_mode=2,
            timestamp=datetime.now(tz=UTC),
            app_id=self._service,
            headers=dict(headers or {}),
        )
        await self._send(exchange, routing_key, body, properties)

    async def publish_many(self, events: Sequence[Envelope]) -> None:
        """Confirms pipelined: batches of `_BATCH` written at once, up to `_WINDOW` messages awaiting confirms.

        Any message whose confirm fails or times out is re-sent through `publish`'s retry path; raises
        `PublishFailed` if some are still not confirmed by the deadline.
        """
        items = [(e.EXCHANGE, e.routing_key(), e.to_json(), self._properties(e)) for e in events]
        retry: list[_batch_publish.Item] = []
        in_flight: list[tuple[Sequence[_batch_publish.Item], list[asyncio.Future[Any]]]] = []
        for start in range(0, len(items), _BATCH):
            batch = items[start : start + _BATCH]
            try:
                channel = await self._underlay()
                if not _batch_publish.supported(channel):
                    retry.extend(batch)
                    continue
                in_flight.append((batch, await _batch_publish.write_batch(channel, batch)))
            except Exception as exc:
                if not _is_transient(exc):
                    raise PublishFailed(f"publish_many failed: {exc!r}") from exc
                retry.extend(batch)
            while sum(len(f) for _, f in in_flight) > _WINDOW:
                retry.extend(await self._await_confirms(*in_flight.pop(0)))
        for sent, futures in in_flight:
            retry.extend(await self._await_confirms(sent, futures))
        if not retry:
            return
        results = await asyncio.gather(*(self._send(*item) for item in retry), return_exceptions=True)
        failures = [r for r in results if isinstance(r, BaseException)]
        if failures:
            raise PublishFailed(
                f"{len(failures)} of {len(events)} publishes not confirmed; first: {failures[0]}",
                failed=len(failures),
                total=len(events),
            ) from failures[0]

    async def _await_confirms(
        self, batch: Sequence[_batch_publish.Item], futures: list[asyncio.Future[Any]]
    ) -> list[_batch_publish.Item]:
        """Wait for a batch's confirms; return the items to send again (nacked, failed or timed out)."""
        if not futures:
            return []
        done, pending = await asyncio.wait(futures, timeout=self._confirm_timeout_s)
        for future in pending:
            future.cancel()
        failed = [item for item, f in zip(batch, futures, strict=True) if f in pending or f.exception()]
        errors = [f.exception() for f in futures if f in done and f.exception() is not None]
        if errors and not all(_is_transient(e) for e in errors if e is not None):
            first = next(e for e in errors if e is not None and not _is_transient(e))
            raise PublishFailed(
                f"{len(failed)} of {len(batch)} publishes failed: {first!r}", failed=len(failed), total=len(batch)
            ) from first
        if failed:
            self._log.warning("publishes not confirmed, re-sending", count=len(failed), timed_out=len(pending))
        return failed

    async def _underlay(self) -> Any:
        if self._publish_channel is None:
            raise NotConnected("AmqpBus is not connected: call `await bus.connect()` first")
        return await self._publish_channel.get_underlay_channel()

    # -- consuming ---------------------------------------------------------------------------------------
    async def consume(self, subscription: Subscription, handler: Handler) -> AmqpConsumer:
        if subscription.dedup and self._store is None:
            raise ValueError(f"subscription {subscription.queue!r} has dedup=True but AmqpBus got no IdempotencyStore")
        channel = await self.connection.channel()
        await channel.set_qos(prefetch_count=subscription.prefetch)
        queue = await channel.declare_queue(
            subscription.queue, durable=True, arguments=topology.queue_arguments(subscription)
        )
        consumer = AmqpConsumer(
            subscription=subscription,
            handler=handler,
            channel=channel,
            queue=queue,
            store=self._store if subscription.dedup else None,
            dead_letter=self.publish_raw,
            log=self._log.bind(queue=subscription.queue),
            lease_ms=self._dedup_lease_ms,
            batch_window_s=self._batch_window_s,
            stop_timeout_s=self._stop_timeout_s,
            on_stopped=self._forget,
        )
        await consumer.start()
        self._consumers.append(consumer)
        return consumer

    def _forget(self, consumer: AmqpConsumer) -> None:
        if consumer in self._consumers:
            self._consumers.remove(consumer)
