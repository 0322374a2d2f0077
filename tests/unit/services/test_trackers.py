"""trackers service with fakes (InMemoryBus, InMemoryTrackerStore, static filters): orders only move forward,
positions are a function of the set of fills, PositionChanged events carry the right P&L."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from decimal import Decimal as D

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from binance_tool.bus.api import Binding, Subscription
from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.events import ExecutionReportReceived, PositionChanged, deterministic_id
from binance_tool.events.account import edge_of_client_order_id
from binance_tool.exchange.execution import OrderStatus
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.tracking import PositionKey, empty_position
from binance_tool.trading.filters import SymbolFilters
from services.trackers.filters import StaticFilters
from services.trackers.main import build
from services.trackers.portfolio_store import InMemoryPortfolioStore
from services.trackers.position_tracker import base_asset_of, change_of
from services.trackers.service import TrackersService
from services.trackers.settings import TrackersSettings
from services.trackers.store import InMemoryTrackerStore
from services.trackers.subscriptions import trackers_execution_reports

FILTERS = {
    s: SymbolFilters(s, step_size=D("0.00001"), min_qty=D("0.00001"), min_notional=D("5"), base_asset=b,
                     quote_asset="USDT")
    for s, b in (("BTCUSDT", "BTC"), ("ETHUSDT", "ETH"))
}  # fmt: skip


def report(
    order_id: int,
    side: str,
    execution_type: str,
    status: str,
    *,
    orig_qty: str,
    price: str,
    cum_qty: str = "0",
    cum_quote: str = "0",
    last_qty: str = "0",
    last_price: str = "0",
    trade_id: int = -1,
    commission: str = "0",
    commission_asset: str | None = None,
    t: int = 1_000,
    client_order_id: str = "",
    symbol: str = "BTCUSDT",
    account: str = "default",
) -> ExecutionReportReceived:
    cid = client_order_id or f"edge70-entry-{order_id}"
    eid = ExecutionReportReceived.id_for("binance", account, symbol, order_id, execution_type, trade_id)
    return ExecutionReportReceived(
        event_id=eid, correlation_id=deterministic_id("order", order_id), ts_event_ms=t, ts_init_ms=t,
        account=account, source="stream", symbol=symbol, client_order_id=cid, edge=edge_of_client_order_id(cid),
        order_id=order_id, side=side, order_type="LIMIT", execution_type=execution_type, order_status=status,
        orig_qty=D(orig_qty), price=D(price), stop_price=D(0), last_qty=D(last_qty), last_price=D(last_price),
        cumulative_qty=D(cum_qty), cumulative_quote_qty=D(cum_quote), commission=D(commission),
        commission_asset=commission_asset, trade_id=trade_id, transaction_time_ms=t,
    )  # fmt: skip


def order_reports(
    order_id: int, side: str, fills: list[tuple[int, str, str]], t0: int, **kw: str
) -> list[ExecutionReportReceived]:
    """NEW, then one TRADE per (trade id, qty, price) with a 0.1 % USDT fee; the last one FILLED."""
    total = sum(D(q) for _, q, _ in fills)
    out = [report(order_id, side, "NEW", "NEW", orig_qty=str(total), price=fills[0][2], t=t0, **kw)]
    cum, quote = D(0), D(0)
    for i, (trade_id, qty, px) in enumerate(fills, start=1):
        cum += D(qty)
        quote += D(qty) * D(px)
        out.append(
            report(
                order_id,
                side,
                "TRADE",
                "FILLED" if cum == total else "PARTIALLY_FILLED",
                orig_qty=str(total),
                price=fills[0][2],
                cum_qty=str(cum),
                cum_quote=str(quote),
                last_qty=qty,
                last_price=px,
                trade_id=trade_id,
                commission=str(D(qty) * D(px) / 1000),
                commission_asset="USDT",
                t=t0 + i,
                **kw,
            )
        )
    return out


def lifecycle() -> list[ExecutionReportReceived]:
    """edge70 on BTC: buy 0.4@100 + 0.6@101, buy 0.5@110, sell 0.75@120, sell 0.75@90."""
    return [
        *order_reports(1, "BUY", [(11, "0.4", "100"), (12, "0.6", "101")], 1_000),
        *order_reports(2, "BUY", [(13, "0.5", "110")], 2_000),
        *order_reports(3, "SELL", [(14, "0.75", "120")], 3_000),
        *order_reports(4, "SELL", [(15, "0.75", "90")], 4_000),
    ]


async def make(store: InMemoryTrackerStore | None = None, bus: InMemoryBus | None = None) -> TrackersService:
    if bus is None:
        bus = InMemoryBus()
        await bus.connect()
    return TrackersService(bus, store or InMemoryTrackerStore(), StaticFilters(FILTERS), FixedClock(7))


async def final_state(service: TrackersService) -> tuple[object, ...]:
    store = service.store
    orders = await store.orders("default", "BTCUSDT")
    records = await store.positions("default")
    return tuple(orders), tuple((r.key, dict(r.fills), r.position) for r in records)


async def connected_bus() -> tuple[InMemoryBus, list[PositionChanged]]:
    bus = InMemoryBus()
    await bus.connect()
    seen: list[PositionChanged] = []
    observer = Subscription("test.positions", (Binding(PositionChanged.EXCHANGE, "position.#"),), (PositionChanged,))

    async def collect(event, delivery=None):
        seen.append(event)

    await bus.consume(observer, collect)
    return bus, seen


async def test_position_events_opened_increased_reduced_closed_with_realised_pnl():
    bus, seen = await connected_bus()
    service = await make(bus=bus)
    for event in lifecycle():
        await service.on_execution_report(event)
    await bus.drain()
    assert [e.change for e in seen] == ["opened", "increased", "increased", "reduced", "closed"]
    assert [e.quantity for e in seen] == [D("0.4"), D("1.0"), D("1.5"), D("0.75"), D("0")]
    assert all(e.edge == "edge70" and e.base_asset == "BTC" and e.routing_key().startswith("position.") for e in seen)
    opened, _, increased, reduced, closed = seen
    assert opened.average_entry_price == D("100.1")  # fee included in the cost
    assert increased.average_entry_price == D("155.7556") / D("1.5")
    assert reduced.realised_pnl == D("90") - D("77.8778") - D("0.09")
    assert closed.realised_pnl == D("12.0322") + D("67.5") - D("77.8778") - D("0.0675") == D("1.5869")
    assert closed.fees_quote == D("0.04") + D("0.0606") + D("0.055") + D("0.09") + D("0.0675")
    assert closed.opened_at_ms == 1_001 and closed.closed_at_ms == 4_001 and closed.average_entry_price is None
    assert closed.event_id == PositionChanged.id_for("default", "BTC", "edge70", 15)
    assert {e.correlation_id for e in seen[-1:]} == {deterministic_id("order", 4)}
    orders = await service.store.orders("default", "BTCUSDT")
    assert [o.status for o in orders] == [OrderStatus.FILLED] * 4
    assert orders[0].executed_qty == D("1.0") and len(orders[0].fills) == 2 and not orders[0].missing_fills


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(order=st.permutations(range(len(lifecycle()))), dups=st.lists(st.integers(0, len(lifecycle()) - 1), max_size=8))
async def test_any_permutation_with_duplicates_gives_the_same_orders_and_positions(order, dups):
    events = lifecycle()
    reference = await make()
    for e in events:
        await reference.on_execution_report(e)
    shuffled = await make()
    delivered = [events[i] for i in order]
    for d in dups:
        delivered.insert(d % (len(delivered) + 1), events[d])
    for e in delivered:
        await shuffled.on_execution_report(e)
    assert await final_state(shuffled) == await final_state(reference)
    (record,) = await shuffled.store.positions("default")
    assert record.position.closed and record.position.realised_pnl == D("1.5869")


async def test_out_of_order_delivery_over_the_bus_publishes_each_change_once_per_trade():
    bus, seen = await connected_bus()
    service = await make(bus=bus)
    sub = trackers_execution_reports()
    await bus.consume(sub, service.on_execution_report)
    events = lifecycle()
    delivered = events + random.Random(5).sample(events, len(events))
    random.Random(7).shuffle(delivered)
    await bus.publish_many(delivered)
    await bus.drain()
    assert not bus.dead_letters
    assert len({e.event_id for e in seen}) == len(seen)  # at most one event per causing trade
    assert await final_state(service) == await final_state(await _in_order())


async def _in_order() -> TrackersService:
    service = await make()
    for e in lifecycle():
        await service.on_execution_report(e)
    return service


async def test_late_new_after_filled_changes_nothing():
    store = InMemoryTrackerStore()
    service = await make(store)
    new, trade = order_reports(9, "BUY", [(91, "0.1", "100")], 5_000)
    await service.on_execution_report(trade)
    writes, before = store.writes, await store.order("default", "BTCUSDT", 9)
    await service.on_execution_report(new)
    await service.on_execution_report(trade)  # and a duplicate of the fill
    assert store.writes == writes
    after = await store.order("default", "BTCUSDT", 9)
    assert after == before and after is not None and after.status is OrderStatus.FILLED
    assert after.client_order_id == "edge70-entry-9" and after.executed_qty == D("0.1")


async def test_manual_sell_is_its_own_position_and_leaves_the_edge_position_alone():
    bus, seen = await connected_bus()
    service = await make(bus=bus)
    for e in order_reports(1, "BUY", [(11, "1", "100")], 1_000):
        await service.on_execution_report(e)
    # sold by hand on the exchange's web page: no edge in the client order id
    for e in order_reports(50, "SELL", [(51, "0.3", "105")], 2_000, client_order_id="web_abc123"):
        await service.on_execution_report(e)
    # a manual round trip on ETH
    for e in order_reports(60, "BUY", [(61, "2", "10")], 3_000, client_order_id="and_x1", symbol="ETHUSDT"):
        await service.on_execution_report(e)
    for e in order_reports(62, "SELL", [(63, "2", "12")], 4_000, client_order_id="and_x2", symbol="ETHUSDT"):
        await service.on_execution_report(e)
    await bus.drain()
    store = service.store
    edge_btc = await store.position(PositionKey("default", "BTC", "edge70"))
    manual_btc = await store.position(PositionKey("default", "BTC", None))
    assert edge_btc is not None and edge_btc.position.quantity == D("1") and not edge_btc.position.closed
    assert manual_btc is not None and manual_btc.position.quantity == 0 and manual_btc.position.closed
    assert manual_btc.position.unmatched_sell_qty == D("0.3") and manual_btc.position.unmatched_proceeds == D("31.5")
    assert manual_btc.position.realised_pnl == -D("0.0315")  # only the fee: the cost of what was sold is unknown
    assert [(e.base_asset, e.edge, e.change) for e in seen] == [
        ("BTC", "edge70", "opened"),
        ("ETH", None, "opened"),
        ("ETH", None, "closed"),
    ]
    assert seen[-1].realised_pnl == D("24") - D("20.02") - D("0.024")


async def test_reports_of_another_quote_asset_track_the_order_but_no_position():
    service = await make()
    for e in order_reports(70, "BUY", [(71, "1", "0.05")], 1_000, symbol="ETHBTC"):
        await service.on_execution_report(e)
    assert [o.order_id for o in await service.store.orders("default", "ETHBTC")] == [70]
    assert await service.store.positions("default") == []


async def test_dust_left_after_a_sell_closes_the_position():
    service = await make()
    for e in order_reports(1, "BUY", [(11, "1", "100")], 1_000) + order_reports(
        2, "SELL", [(12, "0.99999", "100")], 2_000
    ):
        await service.on_execution_report(e)
    (record,) = await service.store.positions("default")
    assert record.position.quantity == D("0.00001") and record.position.closed  # below MIN_NOTIONAL


def test_change_classification_and_base_asset():
    assert base_asset_of("BTCUSDT", "USDT") == "BTC" and base_asset_of("ETHBTC", "USDT") is None
    assert base_asset_of("USDT", "USDT") is None
    assert change_of(None, _pos(closed=True)) is None


def _pos(**kw):
    return replace(empty_position(FILTERS["BTCUSDT"]), **kw)


async def test_unexpected_event_type_is_refused():
    with pytest.raises(TypeError):
        await (await make()).on_execution_report(PositionChanged(
            event_id=deterministic_id("x"), correlation_id=deterministic_id("x"), ts_event_ms=0, ts_init_ms=0,
            change="opened", edge=None, base_asset="BTC", quote_asset="USDT", symbol="BTCUSDT", cause_trade_id=1,
            quantity=D(1), average_entry_price=D(1), realised_pnl=D(0), fees_quote=D(0), opened_at_ms=0,
            closed_at_ms=None))  # fmt: skip


async def test_build_wires_the_service_with_fakes():
    bus = InMemoryBus()
    app = await build(
        TrackersSettings(),
        bus=bus,
        store=InMemoryTrackerStore(),
        filters=StaticFilters(FILTERS),
        portfolio_store=InMemoryPortfolioStore(),
        prices=FakeSpotExchange(),
    )
    assert app.service.positions.quote_asset == "USDT" and not app.health.ready
    await app.aclose()


def test_settings_read_the_trackers_variables(monkeypatch):
    monkeypatch.setenv("TRACKERS_QUOTE_ASSET", "fdusd")
    assert TrackersSettings().trackers_quote_asset == "FDUSD"


async def test_the_same_order_and_trade_ids_on_two_symbols_are_two_reports_through_dedup():
    """Binance numbers orders and trades per symbol: order 1 / trade 11 of BTCUSDT and of ETHUSDT are different facts
    and must both pass the bus's dedup (found by the year-long end-to-end replay)."""
    bus = InMemoryBus()
    await bus.connect()
    service = TrackersService(bus, InMemoryTrackerStore(), StaticFilters(FILTERS), FixedClock(7))
    subscription = trackers_execution_reports()
    await bus.declare([subscription])
    await bus.consume(subscription, service.on_execution_report)
    btc = order_reports(1, "BUY", [(11, "0.5", "100")], 1_000)
    eth = order_reports(1, "BUY", [(11, "2", "50")], 1_000, symbol="ETHUSDT")
    assert {e.event_id for e in btc}.isdisjoint({e.event_id for e in eth})
    await bus.publish_many([*btc, *eth, *btc])
    await bus.drain()
    assert [o.status for o in await service.store.orders("default", "ETHUSDT")] == [OrderStatus.FILLED]
    positions = {r.key.base_asset: r.position.quantity for r in await service.store.positions("default")}
    assert positions == {"BTC": D("0.5"), "ETH": D("2")}


class TradeList:
    """The exchange's `myTrades` for the repair (a hand-written TradesSource)."""

    def __init__(self, trades: list) -> None:
        self.trades = trades
        self.calls = 0

    async def my_trades(self, symbol: str, from_trade_id: int | None = None) -> list:
        self.calls += 1
        return [t for t in self.trades if t.symbol == symbol]


async def test_a_filled_order_missing_a_fill_is_repaired_from_the_exchanges_trades():
    from binance_tool.exchange.execution import TradeRecord
    from services.trackers.repair import MissingFillsRepair

    bus = InMemoryBus()
    await bus.connect()
    store = InMemoryTrackerStore()
    reports = order_reports(1, "BUY", [(11, "0.4", "100"), (12, "0.6", "101")], 1_000)
    trades = TradeList([
        TradeRecord("BTCUSDT", t, 1, D(p), D(q), D(q) * D(p), D(q) * D(p) / 1000, "USDT", 1_000 + i, True)
        for i, (t, q, p) in enumerate([(11, "0.4", "100"), (12, "0.6", "101")], start=1)
    ] + [TradeRecord("BTCUSDT", 13, 2, D(1), D(1), D(1), D(0), "USDT", 5, True)])  # fmt: skip
    repair = MissingFillsRepair(trades, store, bus, FixedClock(9), delay_s=0.2)
    service = TrackersService(bus, store, StaticFilters(FILTERS), FixedClock(7), repair=repair)
    subscription = trackers_execution_reports()
    await bus.declare([subscription])
    await bus.consume(subscription, service.on_execution_report)
    new, first_fill, last_fill = reports
    await bus.publish_many([new, last_fill])  # the first TRADE report was lost
    await bus.drain()
    (order,) = await store.orders("default", "BTCUSDT")
    assert order.status is OrderStatus.FILLED and order.missing_fills
    await asyncio.gather(*repair._pending.values())  # the repair scheduled when the order was seen FILLED
    await bus.drain()
    (order,) = await store.orders("default", "BTCUSDT")
    assert not order.missing_fills and [f.trade_id for f in order.fills] == [11, 12]
    (record,) = await store.positions("default")
    assert record.key.edge == "edge70" and record.position.quantity == D("1.0")
    assert record.position.cost_basis == D("100.6") + D("0.1006")  # both fills at cost, their fees included
    # republished with the id the stream would have given: the lost report itself, not a new fact
    assert first_fill.event_id in {e.event_id for e in bus.published if isinstance(e, ExecutionReportReceived)}
    assert trades.calls == 1


async def test_orders_of_types_we_never_place_are_tracked_too():
    """An OCO's take-profit leg (LIMIT_MAKER) or a stop-market placed by hand: the order is tracked, its fill counts."""
    service = await make()
    for order_id, kind in ((1, "LIMIT"), (2, "LIMIT_MAKER")):
        side = "BUY" if kind == "LIMIT" else "SELL"
        for r in order_reports(order_id, side, [(10 + order_id, "0.5", "100")], order_id * 1_000):
            await service.on_execution_report(r.model_copy(update={"order_type": kind}))
    orders = await service.store.orders("default", "BTCUSDT")
    assert [(o.type.value, o.status) for o in orders] == [
        ("LIMIT", OrderStatus.FILLED),
        ("LIMIT_MAKER", OrderStatus.FILLED),
    ]
    (record,) = await service.store.positions("default")
    assert record.position.closed and record.position.sold_qty == D("0.5")
