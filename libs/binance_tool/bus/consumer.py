"""The AMQP consumer: micro-batches, two-phase Redis dedup, ack only after the effect is stored.

One consumer = one channel (`prefetch_count = subscription.prefetch`) and one worker task:

1. collect what has arrived, up to half the prefetch (so the broker keeps streaming while we work) or a ~2 ms
   window after the first delivery;
2. decode each body with `decode(body, subscription.accepts)`; a `MalformedMessage` is re-published (confirmed)
   to `bt.dlx` with routing key = queue name and headers `x-error`, `x-original-queue`,
   `x-original-routing-key`, then acked, and logged at error level: the consumer keeps going;
3. one Redis round trip claims the batch's event ids (`claim_many`); DONE → ack without calling the handler;
   BUSY (another consumer holds the lease) → poll until the lease resolves (at most the lease time);
4. handlers run **sequentially in delivery order** (order within a queue is kept as far as the broker keeps it);
   with `subscription.ordering_key`, deliveries of different keys run concurrently, each key's in delivery order;
5. one round trip marks the successes done (`complete_many`) and releases the failures' leases;
6. ack: one `ack(multiple=True)` on the last delivery tag when the whole batch succeeded, otherwise individual
   acks, and `nack(requeue=True)` for handler failures (after the quorum queue's delivery limit RabbitMQ
   dead-letters the message).

Redis failures are retried with backoff while the batch's messages stay unacked (nothing is nacked because
Redis is down: that would burn delivery attempts and dead-letter good messages).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, TypeVar

import structlog
from aio_pika.abc import AbstractIncomingMessage, AbstractQueue, AbstractRobustChannel

from binance_tool.bus import topology
from binance_tool.bus.api import Delivery, Handler, Subscription
from binance_tool.events import Envelope, MalformedMessage, decode
from binance_tool.state.idempotency import ClaimResult, IdempotencyStore

T = TypeVar("T")
DeadLetterPublish = Callable[[str, str, bytes, Mapping[str, Any]], Awaitable[None]]


class _Outcome(Enum):
    ACK = "ack"
    REQUEUE = "requeue"


@dataclass
class _Item:
    message: AbstractIncomingMessage
    event: Envelope | None = None
    event_id: str = ""
    outcome: _Outcome = _Outcome.ACK
    duplicate_of: _Item | None = None


_STOP = object()


class AmqpConsumer:
    """`ConsumerHandle` of `AmqpBus.consume`."""

    def __init__(
        self,
        *,
        subscription: Subscription,
        handler: Handler,
        channel: AbstractRobustChannel,
        queue: AbstractQueue,
        store: IdempotencyStore | None,
        dead_letter: DeadLetterPublish,
        log: Any,
        lease_ms: int,
        batch_window_s: float,
        stop_timeout_s: float,
        on_stopped: Callable[[AmqpConsumer], None],
    ) -> None:
        self.subscription = subscription
        self._handler = handler
        self._channel = channel
        self._queue = queue
        self._store = store
        self._dead_letter = dead_letter
        self._log = log
        self._lease_ms = lease_ms
        self._window = batch_window_s
        self._stop_timeout_s = stop_timeout_s
        self._on_stopped = on_stopped
        self._max_batch = max(1, subscription.prefetch // 2)
        self._inbox: asyncio.Queue[Any] = asyncio.Queue()
        self._tag: str | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._stopped = asyncio.Event()

    async def start(self) -> None:
        self._tag = await self._queue.consume(self._on_message, no_ack=False)
        self._task = asyncio.create_task(self._run(), name=f"consumer:{self.subscription.queue}")
        self._log.info("consumer started", prefetch=self.subscription.prefetch)

    async def _on_message(self, message: AbstractIncomingMessage) -> None:
        self._inbox.put_nowait(message)

    # -- stop ------------------------------------------------------------------------------------------
    async def stop(self) -> None:
        """Cancel the broker consumer, finish every delivery already received (acking it), close the channel."""
        if self._stopping:
            await self._stopped.wait()
            return
        self._stopping = True
        try:
            if self._tag is not None and not self._channel.is_closed:
                with contextlib.suppress(Exception):
                    await self._queue.cancel(self._tag)
            for _ in range(3):  # let delivery callbacks scheduled before the cancel-ok reach the inbox
                await asyncio.sleep(0)
            self._inbox.put_nowait(_STOP)
            if self._task is not None:
                try:
                    await asyncio.wait_for(asyncio.shield(self._task), self._stop_timeout_s)
                except TimeoutError:
                    self._log.error("consumer did not drain in time; unacked deliveries will be redelivered")
                    self._task.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await self._task
            with contextlib.suppress(Exception):
                await self._channel.close()  # anything still unacked goes back to the queue
        finally:
            self._stopped.set()
            self._on_stopped(self)
            self._log.info("consumer stopped")

    # -- worker ----------------------------------------------------------------------------------------
    async def _run(self) -> None:
        while True:
            batch, stop = await self._collect()
            if batch:
                try:
                    await self._process(batch)
                except Exception:  # a bug here must not kill the consumer
                    self._log.exception("consumer batch failed unexpectedly; requeued", size=len(batch))
                    # settle the batch now: left unacked, a later batch's multiple-ack would ack it unhandled
                    for message in batch:
                        if not message.channel.is_closed:
                            await self._safely(message.nack(requeue=True))
            if stop:
                return

    async def _collect(self) -> tuple[list[AbstractIncomingMessage], bool]:
        first = await self._inbox.get()
        if first is _STOP:
            return [], True
        batch: list[AbstractIncomingMessage] = [first]
        waited = False
        while len(batch) < self._max_batch:
            try:
                item = self._inbox.get_nowait()
            except asyncio.QueueEmpty:
                if waited or self._stopping:
                    break
                waited = True
                await asyncio.sleep(self._window)
                continue
            if item is _STOP:
                return batch, True
            batch.append(item)
        return batch, False

    async def _process(self, messages: list[AbstractIncomingMessage]) -> None:
        queue = self.subscription.queue
        # Deliveries from a channel that has since closed (reconnect) will be redelivered: drop them.
        live = [m for m in messages if not m.channel.is_closed]
        if len(live) < len(messages):
            self._log.warning("dropping deliveries of a closed channel", count=len(messages) - len(live))
        items: list[_Item] = []
        for message in live:
            item = _Item(message)
            try:
                item.event = decode(message.body, self.subscription.accepts)
                item.event_id = str(item.event.event_id)
            except MalformedMessage as exc:
                item.outcome = await self._reject(message, str(exc))
            items.append(item)
        valid = [i for i in items if i.event is not None]
        first_of: dict[str, _Item] = {}
        for item in valid:
            if item.event_id in first_of:
                item.duplicate_of = first_of[item.event_id]
            else:
                first_of[item.event_id] = item
        claims: dict[str, ClaimResult] = {}
        if self._store is not None and first_of:
            ids = list(first_of)
            results = await self._retrying("claim", lambda: self._store_claim(ids))
            claims = dict(zip(ids, results, strict=True))
        done: list[str] = []
        failed: list[str] = []

        async def run(item: _Item) -> None:
            claim = claims.get(item.event_id, ClaimResult.CLAIMED)
            if claim is ClaimResult.BUSY:
                claim = await self._wait_for_lease(item.event_id)
            if claim is ClaimResult.DONE:
                self._log.debug("duplicate skipped", event_id=item.event_id)
                return
            if claim is ClaimResult.BUSY:
                item.outcome = _Outcome.REQUEUE
                return
            if await self._handle(item):
                done.append(item.event_id)
            else:
                item.outcome = _Outcome.REQUEUE
                failed.append(item.event_id)

        async def run_in_order(group: list[_Item]) -> None:
            for item in group:
                await run(item)

        firsts = [i for i in valid if i.duplicate_of is None]
        key_of = self.subscription.ordering_key
        if key_of is None or len(firsts) < 2:
            await run_in_order(firsts)
        else:
            groups: dict[str, list[_Item]] = {}
            for item in firsts:
                assert item.event is not None
                groups.setdefault(key_of(item.event), []).append(item)
            outcomes = await asyncio.gather(*(run_in_order(g) for g in groups.values()), return_exceptions=True)
            for outcome in outcomes:  # every group has finished: only then is a failure raised (as sequentially)
                if isinstance(outcome, BaseException):
                    raise outcome
        for item in valid:
            if item.duplicate_of is not None:
                item.outcome = item.duplicate_of.outcome
        if self._store is not None and (done or failed):
            store = self._store
            ttl = self.subscription.dedup_ttl_s
            if done:
                await self._retrying("complete", lambda: store.complete_many(queue, done, ttl))
            if failed:
                await self._retrying("release", lambda: store.release_many(queue, failed))
        await self._settle(items)

    async def _store_claim(self, ids: list[str]) -> list[ClaimResult]:
        assert self._store is not None
        return await self._store.claim_many(self.subscription.queue, ids, self._lease_ms)

    async def _handle(self, item: _Item) -> bool:
        assert item.event is not None
        message = item.message
        headers = message.headers or {}
        count = headers.get(topology.HEADER_DELIVERY_COUNT, 0)
        delivery = Delivery(
            queue=self.subscription.queue,
            routing_key=message.routing_key or "",
            redelivered=bool(message.redelivered),
            delivery_count=int(count) if isinstance(count, int) else 0,
        )
        try:
            with structlog.contextvars.bound_contextvars(correlation_id=str(item.event.correlation_id)):
                await self._handler(item.event, delivery)
            return True
        except Exception as exc:
            self._log.error(
                "handler failed; message requeued",
                event_id=item.event_id,
                object_type=type(item.event).__name__,
                delivery_count=delivery.delivery_count,
                delivery_limit=self.subscription.delivery_limit,
                error=repr(exc),
                exc_info=exc,
            )
            return False

    async def _wait_for_lease(self, event_id: str) -> ClaimResult:
        """Another consumer holds the lease: poll until it completes (DONE), or releases/expires (CLAIMED)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._lease_ms / 1000 + 1.0
        delay = 0.05
        while loop.time() < deadline:
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)
            (claim,) = await self._retrying("claim", lambda: self._store_claim([event_id]))
            if claim is not ClaimResult.BUSY:
                return claim
        self._log.warning("event still leased by another consumer; requeued", event_id=event_id)
        return ClaimResult.BUSY

    async def _reject(self, message: AbstractIncomingMessage, reason: str) -> _Outcome:
        """Dead-letter a malformed body ourselves (confirmed), so it is acked, not retried."""
        queue = self.subscription.queue
        self._log.error(
            "malformed message dead-lettered",
            reason=reason,
            routing_key=message.routing_key,
            message_id=message.message_id,
        )
        headers = {
            **(message.headers or {}),
            topology.HEADER_ERROR: reason[:1000],
            topology.HEADER_ORIGINAL_QUEUE: queue,
            topology.HEADER_ORIGINAL_ROUTING_KEY: message.routing_key or "",
            topology.HEADER_ORIGINAL_EXCHANGE: message.exchange or "",
        }
        try:
            await self._dead_letter(topology.DEAD_LETTER_EXCHANGE, queue, message.body, headers)
        except Exception as exc:
            self._log.error("could not dead-letter malformed message; requeued", error=repr(exc))
            return _Outcome.REQUEUE
        return _Outcome.ACK

    async def _settle(self, items: list[_Item]) -> None:
        if not items:
            return
        channel = items[0].message.channel
        if all(i.outcome is _Outcome.ACK and i.message.channel is channel for i in items):
            await self._safely(items[-1].message.ack(multiple=True))
            return
        for item in items:
            if item.outcome is _Outcome.ACK:
                await self._safely(item.message.ack())
            else:
                await self._safely(item.message.nack(requeue=True))

    async def _safely(self, settle: Awaitable[None]) -> None:
        try:
            await settle
        except Exception as exc:  # channel gone: the broker redelivers, dedup absorbs the repeat
            self._log.warning("ack/nack failed; message will be redelivered", error=repr(exc))

    async def _retrying(self, what: str, call: Callable[[], Awaitable[T]]) -> T:
        delay = 0.1
        while True:
            try:
                return await call()
            except Exception as exc:
                self._log.error(f"dedup store {what} failed; retrying", error=repr(exc), retry_in_s=delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
