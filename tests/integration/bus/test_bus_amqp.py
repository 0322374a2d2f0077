"""AmqpBus against the real RabbitMQ (quorum queues, confirms, dead-lettering) and Redis (dedup)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import aio_pika
import pytest
from aiormq.exceptions import ChannelPreconditionFailed
from conftest import Topo
from redis.asyncio import Redis

from binance_tool.bus import topology
from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Delivery
from binance_tool.bus.errors import PublishFailed
from binance_tool.events import Envelope

pytestmark = [pytest.mark.integration, pytest.mark.timeout(60)]


class Recorder:
    def __init__(self, fail: bool = False) -> None:
        self.events: list[Envelope] = []
        self.deliveries: list[Delivery] = []
        self.fail = fail
        self.changed = asyncio.Event()

    async def __call__(self, event: Envelope, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self.changed.set()
        if self.fail:
            raise RuntimeError("handler always fails")
        self.events.append(event)

    async def wait_for(self, n: int, within_s: float = 10.0) -> None:
        async def loop() -> None:
            while len(self.events) < n:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(loop(), within_s)


async def get_one(queue: aio_pika.abc.AbstractQueue, within_s: float = 10.0) -> aio_pika.abc.AbstractIncomingMessage:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within_s
    while loop.time() < deadline:
        message = await queue.get(fail=False, no_ack=True)
        if message is not None:
            return message
        await asyncio.sleep(0.05)
    raise AssertionError(f"nothing arrived on {queue.name} within {within_s}s")


async def test_declared_queue_is_quorum_with_dead_letter_arguments(bus: AmqpBus, topo: Topo) -> None:
    sub = topo.subscription(delivery_limit=3)
    await bus.declare([sub])
    channel = await bus.connection.channel()
    # Redeclaring with the very same arguments is fine (declare is idempotent) ...
    await channel.declare_queue(sub.queue, durable=True, arguments=topology.queue_arguments(sub))
    # ... but any other queue type or dead-letter setting is refused by the broker: the queue really has them.
    for changed in (
        {"x-queue-type": "classic"},
        {"x-delivery-limit": 4},
        {"x-dead-letter-strategy": "at-most-once"},
        {"x-dead-letter-exchange": "bt.other"},
    ):
        channel = await bus.connection.channel()
        with pytest.raises(ChannelPreconditionFailed):
            await channel.declare_queue(sub.queue, durable=True, arguments={**topology.queue_arguments(sub), **changed})
    # the dead-letter queue and every exchange exist (passive declares raise if not)
    channel = await bus.connection.channel()
    await channel.declare_queue(topology.DEAD_LETTER_QUEUE, passive=True)
    for name in (*topology.exchange_names(), topology.DEAD_LETTER_EXCHANGE):
        await channel.get_exchange(name, ensure=True)


async def test_publish_returns_after_confirm_with_persistent_properties(bus: AmqpBus, topo: Topo) -> None:
    sub = topo.subscription()
    await bus.declare([sub])
    event = topo.candle(1)
    await bus.publish(event)
    channel = await bus.connection.channel()
    queue = await channel.declare_queue(sub.queue, passive=True)
    message = await get_one(queue, within_s=2)  # confirmed ⇒ already in the queue
    assert message.delivery_mode == aio_pika.DeliveryMode.PERSISTENT
    assert message.message_id == str(event.event_id)
    assert message.correlation_id == str(event.correlation_id)
    assert message.type == "CandleClosed"
    assert message.content_type == "application/json"
    assert message.timestamp is not None
    assert message.headers["x-version"] == 1
    assert message.routing_key == event.routing_key()
    assert message.body == event.to_json()


async def test_publish_many_confirms_every_message(bus: AmqpBus, topo: Topo) -> None:
    sub = topo.subscription()
    await bus.declare([sub])
    await bus.publish_many([topo.candle(i) for i in range(1000)])
    channel = await bus.connection.channel()
    declared = await channel.declare_queue(sub.queue, passive=True)
    assert declared.declaration_result.message_count == 1000


async def test_publish_to_a_missing_exchange_raises_and_the_bus_keeps_publishing(bus: AmqpBus, topo: Topo) -> None:
    with pytest.raises(PublishFailed, match="NOT_FOUND"):
        await bus.publish_raw(f"bt.missing-{uuid.uuid4().hex}", "x", b"{}")
    sub = topo.subscription()
    await bus.declare([sub])
    await bus.publish(topo.candle(1))  # the publisher channel was reopened


async def test_poison_message_is_dead_lettered_with_reason_while_good_ones_flow(bus: AmqpBus, topo: Topo) -> None:
    sub = topo.subscription()
    await bus.declare([sub])
    probe = await topo.dead_letter_probe(sub.queue)
    rec = Recorder()
    await bus.consume(sub, rec)
    routing_key = topo.candle(0).routing_key()
    await bus.publish(topo.candle(1))
    await bus.publish_raw("bt.market-data", routing_key, b"\x00 definitely not json")
    await bus.publish(topo.candle(2))
    await rec.wait_for(2)
    dead = await get_one(probe)
    assert dead.body == b"\x00 definitely not json"
    assert "not JSON" in str(dead.headers["x-error"])
    assert dead.headers["x-original-queue"] == sub.queue
    assert dead.headers["x-original-routing-key"] == routing_key
    await bus.publish(topo.candle(3))
    await rec.wait_for(3)
    assert [e.open_time_ms for e in rec.events] == [1, 2, 3]  # type: ignore[attr-defined]


async def test_always_failing_handler_is_dead_lettered_after_the_delivery_limit(bus: AmqpBus, topo: Topo) -> None:
    sub = topo.subscription(delivery_limit=2)
    await bus.declare([sub])
    probe = await topo.dead_letter_probe(sub.queue)
    rec = Recorder(fail=True)
    await bus.consume(sub, rec)
    event = topo.candle(1)
    await bus.publish(event)
    dead = await get_one(probe)
    assert dead.message_id == str(event.event_id)
    assert dead.headers["x-first-death-reason"] == "delivery_limit"
    assert [d.delivery_count for d in rec.deliveries] == [0, 1, 2]
    assert [d.redelivered for d in rec.deliveries] == [False, True, True]


async def test_same_event_published_twice_is_handled_once(bus: AmqpBus, topo: Topo) -> None:
    sub = topo.subscription()
    await bus.declare([sub])
    rec = Recorder()
    await bus.consume(sub, rec)
    first, second = topo.candle(1), topo.candle(2)
    await bus.publish(first)
    await bus.publish_many([first, second, first])
    await rec.wait_for(2)
    await asyncio.sleep(0.3)
    assert sorted(e.open_time_ms for e in rec.events) == [1, 2]  # type: ignore[attr-defined]
    channel = await bus.connection.channel()
    declared = await channel.declare_queue(sub.queue, passive=True)
    assert declared.declaration_result.message_count == 0  # the duplicates were acked


async def test_stop_drains_in_flight_work_and_acks_it(bus: AmqpBus, topo: Topo) -> None:
    sub = topo.subscription(prefetch=10)
    await bus.declare([sub])
    rec = Recorder()
    handle = await bus.consume(sub, rec)
    await bus.publish_many([topo.candle(i) for i in range(30)])
    await rec.wait_for(1)
    await handle.stop()
    handled = len(rec.events)
    channel = await bus.connection.channel()
    declared = await channel.declare_queue(sub.queue, passive=True)
    assert declared.declaration_result.message_count == 30 - handled  # everything handled was acked


async def test_killed_consumer_loses_nothing_and_dedup_keeps_effects_once(
    bus: AmqpBus, topo: Topo, redis_client: Redis
) -> None:
    n = 600
    sub = topo.subscription(prefetch=20)
    await bus.declare([sub])
    effects = f"test:effects:{topo.tag}"
    events = [topo.candle(i) for i in range(n)]
    await bus.publish_many(events)
    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(here), os.environ.get("PYTHONPATH")]))}
    victim = subprocess.Popen(  # noqa: ASYNC220 - started once, killed below; no blocking wait on its output
        [sys.executable, str(here / "_victim_consumer.py"), sub.queue, sub.bindings[0].routing_key, effects, "1500"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 20
        while await redis_client.hlen(effects) < n // 3:
            assert loop.time() < deadline, "victim consumer made no progress"
            assert victim.poll() is None, "victim consumer exited"
            await asyncio.sleep(0.01)
    finally:
        victim.send_signal(signal.SIGKILL)
        victim.wait()
    done_by_victim = await redis_client.hlen(effects)
    assert done_by_victim < n, "the victim finished before it was killed; raise n"

    async def effect(event: Envelope, delivery: Delivery) -> None:
        await redis_client.hincrby(effects, str(event.event_id), 1)

    await bus.consume(sub, effect)
    deadline = asyncio.get_running_loop().time() + 30
    while await redis_client.hlen(effects) < n:
        assert asyncio.get_running_loop().time() < deadline, "messages were lost"
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)
    counts = {k.decode(): int(v) for k, v in (await redis_client.hgetall(effects)).items()}
    await redis_client.delete(effects)
    assert set(counts) == {str(e.event_id) for e in events}  # nothing lost
    repeated = [k for k, v in counts.items() if v > 1]
    # Only the batch in flight at the SIGKILL (handled, not yet marked done) can run twice; everything the
    # victim had marked done, even if not yet acked, was skipped by the dedup.
    assert len(repeated) <= sub.prefetch // 2, repeated


class OverlapRecorder:
    """Records, per delivery, which other keys' handlers were running at the same time."""

    def __init__(self, key_of) -> None:  # type: ignore[no-untyped-def]
        self.key_of = key_of
        self.running: dict[str, int] = {}
        self.overlaps: list[tuple[str, set[str]]] = []
        self.order: dict[str, list[int]] = {}
        self.done = 0

    async def __call__(self, event: Envelope, delivery: Delivery) -> None:
        key = self.key_of(event)
        assert self.running.get(key, 0) == 0, f"two handlers of key {key} at once"
        self.running[key] = 1
        await asyncio.sleep(0.02)  # an I/O-bound handler
        self.overlaps.append((key, {k for k, n in self.running.items() if n and k != key}))
        self.order.setdefault(key, []).append(event.open_time_ms)  # type: ignore[attr-defined]
        self.running[key] = 0
        self.done += 1


async def _run_with(bus: AmqpBus, topo: Topo, ordering_key) -> OverlapRecorder:  # type: ignore[no-untyped-def]
    def key_of(event: Envelope) -> str:
        return str(event.open_time_ms % 3)  # type: ignore[attr-defined]

    sub = topo.subscription(ordering_key=key_of if ordering_key else None, prefetch=40)
    await bus.declare([sub])
    recorder = OverlapRecorder(key_of)
    events = [topo.candle(i) for i in range(30)]
    await bus.publish_many(events)
    consumer = await bus.consume(sub, recorder)
    async with asyncio.timeout(20):
        while recorder.done < len(events):  # noqa: ASYNC110 - a counter the handler moves
            await asyncio.sleep(0.02)
    await consumer.stop()
    for key, times in recorder.order.items():
        assert times == sorted(times), f"key {key} handled out of delivery order"
    return recorder


async def test_with_an_ordering_key_different_keys_are_handled_concurrently_each_in_order(
    bus: AmqpBus, topo: Topo
) -> None:
    recorder = await _run_with(bus, topo, ordering_key=True)
    assert any(others for _, others in recorder.overlaps), "no two keys were ever handled at the same time"


async def test_without_an_ordering_key_handlers_run_one_at_a_time(bus: AmqpBus, topo: Topo) -> None:
    recorder = await _run_with(bus, topo, ordering_key=False)
    assert not any(others for _, others in recorder.overlaps)
