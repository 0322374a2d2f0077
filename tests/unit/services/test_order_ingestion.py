"""order-ingestion with fakes (FakeSpotExchange, InMemoryBus, in-memory cursors): stream reports published with
deterministic ids; what a dropped stream or a restart missed is back-filled from REST with the ids the stream would
have given; cursors keep back-fills incremental; two replicas publish identical ids."""

from __future__ import annotations

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest

from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.config import SettingsError, load_settings
from binance_tool.events import AccountBalancesUpdated, ExecutionReportReceived
from binance_tool.exchange.execution import OrderRequest, OrderType, Side, client_order_id
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.state.order_cursors import InMemoryOrderCursorStore, RedisOrderCursorStore, order_cursor_key
from binance_tool.trading.filters import SymbolFilters
from services.order_ingestion import main as ingestion_main
from services.order_ingestion.service import GapRelay, OrderIngestionService
from services.order_ingestion.settings import OrderIngestionSettings

D = Decimal
BTC = SymbolFilters(
    "BTCUSDT", tick_size=D("0.01"), min_price=D("0.01"), step_size=D("0.0001"), min_qty=D("0.0001"), min_notional=D(10)
)
ENTRY = client_order_id("edge70", "signal-1", "entry")


def settings() -> OrderIngestionSettings:
    return load_settings(OrderIngestionSettings, order_ingestion_symbols="BTCUSDT", order_ingestion_replica_id="t")


def exchange(relays: list[GapRelay]) -> FakeSpotExchange:
    async def gap() -> None:
        for relay in relays:
            await relay()

    return FakeSpotExchange(
        [BTC], balances={"USDT": 10_000, "BTC": 1}, prices={"BTCUSDT": 100}, now_ms=1_000, on_stream_gap=gap
    )


def limit_buy(cid: str, qty: str = "1", price: str = "90") -> OrderRequest:
    return OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D(qty), cid, price=D(price))


async def eventually(predicate: Callable[[], object], within_s: float = 3.0) -> None:
    async with asyncio.timeout(within_s):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.005)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


@dataclass
class Running:
    service: OrderIngestionService
    bus: InMemoryBus

    def reports(self, source: str | None = None) -> list[ExecutionReportReceived]:
        return [
            e
            for e in self.bus.published
            if isinstance(e, ExecutionReportReceived) and (source is None or e.source == source)
        ]


@contextlib.asynccontextmanager
async def running(
    ex: FakeSpotExchange,
    relays: list[GapRelay],
    cursors: InMemoryOrderCursorStore,
    bus: InMemoryBus | None = None,
) -> AsyncIterator[Running]:
    bus = bus or InMemoryBus()
    await bus.connect()
    relay = GapRelay()
    relays.append(relay)
    app = await ingestion_main.build(
        settings(), bus=bus, account=ex, cursors=cursors, clock=FixedClock(5), gap_relay=relay
    )
    stop = asyncio.Event()
    task = asyncio.create_task(app.service.run(stop))
    await eventually(lambda: app.service.health.ready)
    try:
        yield Running(app.service, bus)
    finally:
        stop.set()
        await asyncio.wait_for(task, 3)
        relays.remove(relay)
        await app.aclose()


async def test_stream_reports_are_published_with_deterministic_ids_and_the_orders_fields():
    relays: list[GapRelay] = []
    ex = exchange(relays)
    async with running(ex, relays, InMemoryOrderCursorStore()) as r:
        placed = await ex.place_order(limit_buy(ENTRY))
        ex.set_price("BTCUSDT", 85)  # the resting buy fills at 90
        await eventually(lambda: any(e.execution_type == "TRADE" for e in r.reports("stream")))
        await settle()
    assert placed.order is not None
    order_id = placed.order.order_id
    (trade,) = await ex.my_trades("BTCUSDT")
    new, fill = r.reports("stream")
    assert new.event_id == ExecutionReportReceived.id_for("binance", "default", "BTCUSDT", order_id, "NEW", -1)
    assert fill.event_id == ExecutionReportReceived.id_for(
        "binance", "default", "BTCUSDT", order_id, "TRADE", trade.trade_id
    )
    assert (new.edge, new.client_order_id, new.order_status, new.orig_qty, new.price) == ("edge70", ENTRY, "NEW", 1, 90)
    assert (fill.trade_id, fill.last_qty, fill.last_price, fill.cumulative_qty, fill.order_status) == (
        trade.trade_id,
        1,
        90,
        1,
        "FILLED",
    )
    assert (fill.commission, fill.commission_asset, fill.side, fill.order_type) == (D("0.001"), "BTC", "BUY", "LIMIT")
    assert new.correlation_id == fill.correlation_id  # every report of one order correlates
    sources = [e.source for e in r.bus.published if isinstance(e, AccountBalancesUpdated)]
    assert sources[0] == "rest-snapshot" and "stream" in sources  # start-up snapshot, then the stream's updates


async def scenario(drop: bool) -> dict[tuple[int, str, int], ExecutionReportReceived]:
    """A partial fill, then (with `drop`: while the stream is down) the rest of the fill and a cancel."""
    relays: list[GapRelay] = []
    ex = exchange(relays)
    async with running(ex, relays, InMemoryOrderCursorStore()) as r:
        await ex.place_order(limit_buy(ENTRY))
        await ex.place_order(limit_buy("manual-1", "0.5", "80"))
        ex.fill("BTCUSDT", ENTRY, D("0.4"))
        await eventually(lambda: len(r.reports("stream")) == 3)
        if drop:
            ex.drop_user_stream(restore=False)
        ex.fill("BTCUSDT", ENTRY, D("0.6"))
        await ex.cancel_order("BTCUSDT", "manual-1")
        await settle()
        if drop:
            assert len(r.reports("stream")) == 3  # the fill and the cancel were lost with the connection
            ex.restore_user_stream()
            await eventually(lambda: r.service.stats.backfills == 2)
        else:
            await eventually(lambda: len(r.reports("stream")) == 5)
        await settle()
    return {(e.order_id, e.execution_type, e.trade_id): e for e in r.reports()}


async def test_a_fill_and_a_cancel_missed_while_the_stream_was_down_are_back_filled_with_the_stream_s_ids():
    live = await scenario(drop=False)
    dropped = await scenario(drop=True)
    missed = [k for k in live if k[1] in ("TRADE", "CANCELED") and live[k].source == "stream"]
    assert len(missed) == 3
    for key in missed:
        got, want = dropped[key], live[key]
        assert got.event_id == want.event_id
        fields = ("last_qty", "last_price", "cumulative_qty", "order_status", "commission", "commission_asset", "edge")
        if key[1] == "TRADE":
            assert [getattr(got, f) for f in fields] == [getattr(want, f) for f in fields], key
    late_fill = max((k for k in missed if k[1] == "TRADE"), key=lambda k: k[2])
    assert dropped[late_fill].source == "rest-backfill"
    assert (dropped[late_fill].cumulative_qty, dropped[late_fill].order_status) == (1, "FILLED")


async def test_a_restart_back_fills_only_after_the_cursors_and_sees_a_stop_that_filled_while_down():
    relays: list[GapRelay] = []
    ex = exchange(relays)
    cursors = InMemoryOrderCursorStore()
    async with running(ex, relays, cursors) as r:
        resting = await ex.place_order(limit_buy("resting", "0.2", "50"))
        done = await ex.place_order(limit_buy(ENTRY))
        ex.set_price("BTCUSDT", 85)  # fills ENTRY, not the resting one
        await eventually(lambda: any(e.execution_type == "TRADE" for e in r.reports("stream")))
        await settle()
    assert resting.order is not None and done.order is not None
    stop_id = client_order_id("edge70", "signal-1", "s1")
    stop = OrderRequest(
        "BTCUSDT", Side.SELL, OrderType.STOP_LOSS_LIMIT, D("0.5"), stop_id, price=D("70"), stop_price=D("75")
    )
    placed = await ex.place_order(stop)  # while nobody listens
    ex.set_price("BTCUSDT", 74)  # the stop triggers and fills
    assert placed.order is not None
    (stop_trade,) = [t for t in await ex.my_trades("BTCUSDT") if t.order_id == placed.order.order_id]

    async with running(ex, relays, cursors) as again:
        await settle()
    backfilled = again.reports("rest-backfill")
    keys = {(e.order_id, e.execution_type, e.trade_id) for e in backfilled}
    assert keys == {
        (resting.order.order_id, "NEW", -1),  # still open: re-reported (same id, dedup downstream)
        (placed.order.order_id, "TRADE", stop_trade.trade_id),  # the stop that filled while we were down
    }
    (fill,) = [e for e in backfilled if e.execution_type == "TRADE"]
    assert fill.event_id == ExecutionReportReceived.id_for(
        "binance", "default", "BTCUSDT", placed.order.order_id, "TRADE", stop_trade.trade_id
    )
    assert (fill.edge, fill.side, fill.order_status, fill.last_qty) == ("edge70", "SELL", "FILLED", D("0.5"))
    cursor = await cursors.get("default", "BTCUSDT")
    assert cursor == type(cursor)(resting.order.order_id, stop_trade.trade_id)


async def test_cursors_only_move_forward():
    cursors = InMemoryOrderCursorStore()
    assert await cursors.advance("a", "BTCUSDT", order_id=5, trade_id=9)
    assert not await cursors.advance("a", "BTCUSDT", order_id=4, trade_id=9)
    assert await cursors.advance("a", "BTCUSDT", trade_id=10)
    cursor = await cursors.get("a", "BTCUSDT")
    assert (cursor.order_id, cursor.trade_id) == (5, 10)
    assert order_cursor_key("a", "BTCUSDT") == "order-ingestion:cursor:a:BTCUSDT"
    assert RedisOrderCursorStore is not None  # the Redis implementation is exercised by the integration test


async def test_two_replicas_on_one_bus_publish_identical_ids():
    relays: list[GapRelay] = []
    ex = exchange(relays)
    cursors = InMemoryOrderCursorStore()
    bus = InMemoryBus()
    async with running(ex, relays, cursors, bus) as a, running(ex, relays, cursors, bus) as b:
        await ex.place_order(limit_buy(ENTRY))
        await ex.place_order(limit_buy("manual-2", "0.5", "80"))
        ex.set_price("BTCUSDT", 85)
        await ex.cancel_order("BTCUSDT", "manual-2")
        await eventually(lambda: len(a.reports("stream")) == 8)  # 4 reports, once per replica
        await settle()
    counts = Counter(e.event_id for e in b.reports("stream"))
    assert len(counts) == 4 and set(counts.values()) == {2}


def test_the_symbols_setting_is_required():
    with pytest.raises(SettingsError, match="ORDER_INGESTION_SYMBOLS"):
        load_settings(OrderIngestionSettings, order_ingestion_symbols=" , ")
    assert load_settings(OrderIngestionSettings, order_ingestion_symbols="btcusdt, ethusdt").symbols == [
        "BTCUSDT",
        "ETHUSDT",
    ]


class EndingStream:
    """The fake exchange whose user stream iterator ends after the next event (as a stream that gives up)."""

    def __init__(self, ex: FakeSpotExchange) -> None:
        self.ex = ex
        self.end_after_next = False

    def __getattr__(self, name: str) -> object:
        return getattr(self.ex, name)

    def user_events(self) -> AsyncIterator[object]:
        inner = self.ex.user_events()

        async def events() -> AsyncIterator[object]:
            async for event in inner:
                yield event
                if self.end_after_next:
                    self.end_after_next = False
                    await inner.aclose()  # type: ignore[attr-defined]
                    return

        return events()


async def test_a_stream_iterator_that_ends_is_reopened_and_what_it_missed_is_back_filled():
    relays: list[GapRelay] = []
    ex = exchange(relays)
    wrapped = EndingStream(ex)
    async with running(wrapped, relays, InMemoryOrderCursorStore()) as r:  # type: ignore[arg-type]
        wrapped.end_after_next = True
        placed = await ex.place_order(limit_buy(ENTRY))
        await eventually(lambda: len(r.reports("stream")) == 1)
        ex.set_price("BTCUSDT", 85)  # fills while no stream is open
        await eventually(lambda: r.service.stats.backfills == 2)
        await settle()
    assert placed.order is not None
    (trade,) = await ex.my_trades("BTCUSDT")
    (fill,) = [e for e in r.reports() if e.execution_type == "TRADE"]
    assert fill.source == "rest-backfill"
    assert fill.event_id == ExecutionReportReceived.id_for(
        "binance", "default", "BTCUSDT", placed.order.order_id, "TRADE", trade.trade_id
    )
    assert r.service.stats.gaps == 1


async def test_start_up_waits_for_an_unavailable_exchange_before_reporting_ready():
    relays: list[GapRelay] = []
    ex = exchange(relays)
    ex.unavailable_next(2)  # the first back-fill's reads time out twice
    async with running(ex, relays, InMemoryOrderCursorStore()) as r:
        assert r.service.health.ready and r.service.stats.backfills == 1
        assert [e.source for e in r.bus.published] == ["rest-snapshot"]


class _FailingPublisher:
    """A broker that refuses every publish (a hand-written Publisher)."""

    def __init__(self) -> None:
        self.calls = 0

    async def publish(self, event) -> None:
        await self.publish_many([event])

    async def publish_many(self, events) -> None:
        self.calls += 1
        await asyncio.sleep(0.01)
        raise ConnectionError("broker unavailable")


async def test_a_failing_publish_ends_the_stream_reader_instead_of_hanging_on_a_full_buffer():
    from binance_tool.exchange.execution import AccountPosition, Balance
    from services.order_ingestion.service import OrderIngestionService

    async def endless():
        i = 0
        while True:  # a stream that keeps delivering: the buffer fills while the publish fails
            i += 1
            yield AccountPosition(i, i, (Balance("USDT", D(i), D(0)),))
            await asyncio.sleep(0)

    publisher = _FailingPublisher()
    service = OrderIngestionService(
        publisher, FakeSpotExchange(), InMemoryOrderCursorStore(), FixedClock(1), ["BTCUSDT"], max_batch=1
    )
    with pytest.raises(ConnectionError):
        await asyncio.wait_for(service._follow(endless()), 5)
    assert publisher.calls == 1
