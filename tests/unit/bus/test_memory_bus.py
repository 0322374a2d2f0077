"""The delivery contract of `binance_tool.bus.api`, on the in-memory bus."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable

import pytest

from binance_tool.bus.api import Binding, Delivery, Subscription
from binance_tool.bus.errors import NotConnected, PublishFailed
from binance_tool.bus.memory import InMemoryBus
from binance_tool.events import CandleClosed, Envelope, SendUserMessage

Candle = Callable[..., CandleClosed]


def daily_sub(queue: str = "edge70.candles", **kw: object) -> Subscription:
    args: dict[str, object] = {
        "queue": queue,
        "bindings": (Binding("bt.market-data", "candle.closed.1d.*"),),
        "accepts": (CandleClosed,),
    }
    args.update(kw)
    return Subscription(**args)  # type: ignore[arg-type]


class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.events: list[Envelope] = []
        self.deliveries: list[Delivery] = []
        self.fail_times = fail_times

    async def __call__(self, event: Envelope, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        if self.fail_times > 0:
            self.fail_times -= 1
            raise RuntimeError("handler failed")
        self.events.append(event)


@pytest.fixture
async def bus() -> AsyncIterator[InMemoryBus]:
    b = InMemoryBus()
    await b.connect()
    yield b
    await b.close()


async def test_handler_receives_an_equal_event_decoded_from_json(bus: InMemoryBus, make_candle: Candle) -> None:
    rec = Recorder()
    await bus.consume(daily_sub(), rec)
    event = make_candle(0, interval="1d")
    await bus.publish(event)
    await bus.drain()
    assert rec.events == [event]
    assert rec.events[0] is not event  # went through JSON
    assert rec.deliveries[0] == Delivery("edge70.candles", "candle.closed.1d.BTCUSDT", False, 0)
    assert bus.published == [event]


async def test_only_queues_with_a_matching_binding_receive(bus: InMemoryBus, make_candle: Candle) -> None:
    daily, hourly = Recorder(), Recorder()
    await bus.consume(daily_sub("daily"), daily)
    await bus.consume(daily_sub("hourly", bindings=(Binding("bt.market-data", "candle.closed.1h.#"),)), hourly)
    await bus.publish(make_candle(0, interval="1d"))
    await bus.publish(make_candle(1, interval="1h"))
    await bus.publish(make_candle(2, interval="1m"))
    await bus.drain()
    assert [e.interval for e in daily.events] == ["1d"]  # type: ignore[attr-defined]
    assert [e.interval for e in hourly.events] == ["1h"]  # type: ignore[attr-defined]


async def test_two_matching_bindings_deliver_one_copy(bus: InMemoryBus, make_candle: Candle) -> None:
    rec = Recorder()
    bindings = (Binding("bt.market-data", "candle.#"), Binding("bt.market-data", "#.BTCUSDT"))
    await bus.consume(daily_sub(bindings=bindings), rec)
    await bus.publish(make_candle(0, interval="1d"))
    await bus.drain()
    assert len(rec.events) == 1


async def test_each_queue_is_fifo(bus: InMemoryBus, make_candle: Candle) -> None:
    rec = Recorder()
    await bus.consume(daily_sub(), rec)
    await bus.publish_many([make_candle(i, interval="1d") for i in range(50)])
    await bus.drain()
    assert [e.open_time_ms for e in rec.events] == list(range(50))  # type: ignore[attr-defined]


async def test_messages_published_before_consume_wait_in_the_queue(bus: InMemoryBus, make_candle: Candle) -> None:
    await bus.declare([daily_sub()])
    await bus.publish(make_candle(0, interval="1d"))
    rec = Recorder()
    await bus.consume(daily_sub(), rec)
    await bus.drain()
    assert len(rec.events) == 1


async def test_duplicate_event_id_is_handled_once(bus: InMemoryBus, make_candle: Candle) -> None:
    rec = Recorder()
    await bus.consume(daily_sub(), rec)
    event = make_candle(0, interval="1d")
    await bus.publish(event)
    await bus.publish(event)
    await bus.drain()
    assert rec.events == [event]


async def test_without_dedup_duplicates_reach_the_handler(bus: InMemoryBus, make_candle: Candle) -> None:
    rec = Recorder()
    await bus.consume(daily_sub(dedup=False), rec)
    event = make_candle(0, interval="1d")
    await bus.publish_many([event, event])
    await bus.drain()
    assert len(rec.events) == 2


async def test_malformed_body_is_dead_lettered_with_reason_and_consumer_continues(
    bus: InMemoryBus, make_candle: Candle
) -> None:
    rec = Recorder()
    await bus.consume(daily_sub(), rec)
    await bus.publish_raw("bt.market-data", "candle.closed.1d.BTCUSDT", b"{not json")
    await bus.publish(make_candle(0, interval="1d"))
    await bus.drain()
    assert len(rec.events) == 1
    (dead,) = bus.dead_letters
    assert dead.queue == "edge70.candles"
    assert dead.body == b"{not json"
    assert "not JSON" in dead.reason
    assert dead.headers["x-error"] == dead.reason
    assert dead.headers["x-original-routing-key"] == "candle.closed.1d.BTCUSDT"


async def test_unexpected_message_type_is_dead_lettered(bus: InMemoryBus) -> None:
    await bus.consume(daily_sub(bindings=(Binding("bt.notifications", "#"),)), Recorder())
    msg = SendUserMessage(
        event_id=uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        ts_event_ms=0,
        ts_init_ms=0,
        service="test",
        kind="info",
        text="hello",
    )
    await bus.publish(msg)
    await bus.drain()
    assert "unexpected message type SendUserMessage" in bus.dead_letters[0].reason


async def test_failing_handler_is_retried_with_a_growing_delivery_count(bus: InMemoryBus, make_candle: Candle) -> None:
    rec = Recorder(fail_times=2)
    await bus.consume(daily_sub(), rec)
    await bus.publish(make_candle(0, interval="1d"))
    await bus.drain()
    assert [d.delivery_count for d in rec.deliveries] == [0, 1, 2]
    assert [d.redelivered for d in rec.deliveries] == [False, True, True]
    assert len(rec.events) == 1
    assert bus.dead_letters == []


async def test_always_failing_handler_is_dead_lettered_after_the_delivery_limit(
    bus: InMemoryBus, make_candle: Candle
) -> None:
    rec = Recorder(fail_times=1000)
    await bus.consume(daily_sub(delivery_limit=3), rec)
    await bus.publish(make_candle(0, interval="1d"))
    await bus.drain()
    assert len(rec.deliveries) == 4  # like RabbitMQ: the first delivery + `delivery_limit` redeliveries
    assert bus.dead_letters[0].reason == "delivery_limit"


async def test_failed_message_is_requeued_behind_later_ones(bus: InMemoryBus, make_candle: Candle) -> None:
    rec = Recorder(fail_times=1)
    await bus.consume(daily_sub(), rec)
    await bus.publish_many([make_candle(i, interval="1d") for i in range(3)])
    await bus.drain()
    assert [e.open_time_ms for e in rec.events] == [1, 2, 0]  # type: ignore[attr-defined]


async def test_handlers_may_publish_and_drain_waits_for_the_chain(bus: InMemoryBus, make_candle: Candle) -> None:
    second = Recorder()

    async def forward(event: Envelope, delivery: Delivery) -> None:
        await bus.publish(make_candle(1, interval="1h"))

    await bus.consume(daily_sub("first"), forward)
    await bus.consume(daily_sub("second", bindings=(Binding("bt.market-data", "candle.closed.1h.*"),)), second)
    await bus.publish(make_candle(0, interval="1d"))
    await bus.drain()
    assert len(second.events) == 1


async def test_publish_to_an_unknown_exchange_raises(bus: InMemoryBus) -> None:
    with pytest.raises(PublishFailed, match=r"bt\.nope"):
        await bus.publish_raw("bt.nope", "x", b"{}")


async def test_publish_before_connect_raises_not_connected(make_candle: Candle) -> None:
    with pytest.raises(NotConnected):
        await InMemoryBus().publish(make_candle(0))


async def test_stop_leaves_undelivered_messages_queued(bus: InMemoryBus, make_candle: Candle) -> None:
    handle = await bus.consume(daily_sub(), Recorder())
    await handle.stop()
    await bus.publish(make_candle(0, interval="1d"))
    rec = Recorder()
    await bus.consume(daily_sub(), rec)
    await bus.drain()
    assert len(rec.events) == 1


async def test_drain_times_out_naming_queues_without_consumers(bus: InMemoryBus, make_candle: Candle) -> None:
    await bus.declare([daily_sub("orphan")])
    await bus.publish(make_candle(0, interval="1d"))
    with pytest.raises(TimeoutError, match="orphan"):
        await bus.drain(timeout_s=0.05)
