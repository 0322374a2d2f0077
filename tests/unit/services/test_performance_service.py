"""performance service with the in-memory bus and fakes: events → edge results, EdgePerformanceUpdated and user
messages; the position report (with a missing price)."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal as D

import pytest

from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.config import SettingsError, load_settings
from binance_tool.events import (
    Direction,
    EdgePerformanceUpdated,
    EntrySized,
    Market,
    PositionChanged,
    PositionsPerformanceReported,
    SendUserMessage,
    deterministic_id,
)
from binance_tool.events.account import ExecutionReportReceived
from binance_tool.exchange.execution import ExchangeUnavailable
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.tracking.positions import Position
from binance_tool.trading.filters import SymbolFilters
from services.performance.main import build, report_periodically
from services.performance.service import EdgePerformanceService, PositionPerformanceReporter
from services.performance.settings import PerformanceSettings
from services.performance.store import InMemoryPerformanceStore
from services.performance.subscriptions import performance_edge_events
from services.trackers.filters import StaticFilters
from services.trackers.position_tracker import PositionTracker
from services.trackers.store import InMemoryTrackerStore
from tests.builders import edge70_signal

DAY = 86_400_000
T0 = 1_704_412_800_000  # 2024-01-05 00:00 UTC


def sizing(signal_id: uuid.UUID, symbol: str, accepted: bool, refusal: str | None = None) -> EntrySized:
    return EntrySized(
        event_id=deterministic_id("sized", signal_id), correlation_id=signal_id, ts_event_ms=T0, ts_init_ms=T0,
        edge="edge70", signal_event_id=signal_id, market=Market.spot(symbol[:-4], "USDT"), signal_price=D(100),
        limit_price=None, stop_price=None, accepted=accepted, quantity=D(1) if accepted else D(0),
        binding="risk", refusal=refusal, reason=refusal or "sized", trading_mode="active", portfolio_value=D(1000),
        free_quote=D(1000), reserved_quote=D(0), open_risk=D(0), open_positions=0, caps={}, rules={},
    )  # fmt: skip


def position_event(change: str, trade_id: int, *, account: str = "default", edge: str | None = "edge70",
                   pnl: str = "0", cost: str = "0", opened: int = T0 + 1000, closed: int | None = None
                   ) -> PositionChanged:  # fmt: skip
    return PositionChanged(
        event_id=PositionChanged.id_for(account, "BTC", edge, trade_id), correlation_id=uuid.uuid4(),
        ts_event_ms=closed or opened, ts_init_ms=0, account=account, change=change, edge=edge, base_asset="BTC",
        quote_asset="USDT", symbol="BTCUSDT", cause_trade_id=trade_id, quantity=D(0) if closed else D(1),
        average_entry_price=None if closed else D(100), realised_pnl=D(pnl), fees_quote=D("0.1"),
        opened_at_ms=opened, closed_at_ms=closed, period_realised_pnl=D(pnl), period_cost=D(cost),
    )  # fmt: skip


def trade_report(order_id: int, side: str, trade_id: int, qty: str, price: str, t: int) -> ExecutionReportReceived:
    """One TRADE report of an edge70 order (no fee)."""
    cid = f"edge70-{'entry' if side == 'BUY' else 'exit'}-{order_id}"
    return ExecutionReportReceived(
        event_id=ExecutionReportReceived.id_for("binance", "default", "BTCUSDT", order_id, "TRADE", trade_id),
        correlation_id=deterministic_id("order", order_id), ts_event_ms=t, ts_init_ms=t, account="default",
        source="stream", symbol="BTCUSDT", client_order_id=cid, edge="edge70", order_id=order_id, side=side,
        order_type="LIMIT", execution_type="TRADE", order_status="PARTIALLY_FILLED", orig_qty=D(1), price=D(price),
        stop_price=D(0), last_qty=D(qty), last_price=D(price), cumulative_qty=D(qty),
        cumulative_quote_qty=D(qty) * D(price), commission=D(0), commission_asset=None, trade_id=trade_id,
        transaction_time_ms=t,
    )  # fmt: skip


class Setup:
    def __init__(self) -> None:
        self.bus = InMemoryBus()
        self.store = InMemoryPerformanceStore()
        self.service = EdgePerformanceService(self.bus, self.store, FixedClock(T0 + 100 * DAY))

    def of(self, cls):
        return [e for e in self.bus.published if isinstance(e, cls)]

    def messages(self, kind: str) -> list[SendUserMessage]:
        return [m for m in self.of(SendUserMessage) if m.kind == kind]


async def test_a_signal_trade_and_a_real_position_through_the_bus_give_totals_events_and_messages():
    s = Setup()
    await s.bus.connect()
    sub = performance_edge_events()
    await s.bus.declare([sub])
    await s.bus.consume(sub, s.service.on_event)
    long_id, short_id = uuid.uuid4(), uuid.uuid4()
    events = [
        edge70_signal("BTCUSDT", Direction.LONG, D(100), long_id, ts_ms=T0),
        sizing(long_id, "BTCUSDT", True),
        position_event("opened", 1),
        edge70_signal("BTCUSDT", Direction.SHORT, D(110), short_id, ts_ms=T0 + 10 * DAY),
        position_event("closed", 2, pnl="8", cost="100.1", closed=T0 + 10 * DAY + 1000),
    ]
    for e in events:
        await s.bus.publish(e)
    await s.bus.publish(events[-1])  # a redelivered close: the bus's dedup drops it
    await s.bus.drain()
    book = await s.store.book("edge70")
    assert (book.all_time.real.closed, book.all_time.real.pnl_sum, book.all_time.real.wins) == (1, D(8), 1)
    assert (book.all_time.entered.closed, book.all_time.entered.return_pct_sum) == (1, D("10.0000"))
    assert book.months["2024-01"] == book.all_time
    updated = s.of(EdgePerformanceUpdated)
    assert [u.cause_type for u in updated] == ["Edge70Signal", "PositionChanged"]  # what moved the totals
    assert updated[0].closed_signal_trade is not None and updated[0].closed_signal_trade.entered
    assert updated[1].closed_position is not None and updated[1].closed_position.days_held == D("10.00")
    assert updated[1].month == "2024-01" and updated[1].month_totals == book.all_time
    texts = [m.text for m in s.messages("edge-performance")]
    assert len(texts) == 2 and "+10.00%" in texts[0] and "entered" in texts[0] and "+8.00" in texts[1]
    assert not s.bus.dead_letters


async def test_a_fact_handled_twice_counts_once_and_republishes_the_same_ids():
    """The crash-between-write-and-ack case: the handler itself sees the event again (no bus dedup)."""
    s = Setup()
    await s.bus.connect()
    long_id = uuid.uuid4()
    await s.service.on_event(edge70_signal("BTCUSDT", Direction.LONG, D(100), long_id, ts_ms=T0))
    close = edge70_signal("BTCUSDT", Direction.SHORT, D(90), uuid.uuid4(), ts_ms=T0 + DAY)
    await s.service.on_event(close)
    first = list(s.bus.published)
    book = await s.store.book("edge70")
    await s.service.on_event(close)
    assert await s.store.book("edge70") == book and book.all_time.signals.closed == 1
    again = s.bus.published[len(first) :]
    assert {e.event_id for e in again} == {e.event_id for e in first[-2:]}  # the update and the message, same ids
    assert book.all_time.not_entered.closed == 1 and book.all_time.refusals == {"not sized": 1}


async def test_the_sizing_decision_after_the_close_moves_the_trade_to_refused():
    s = Setup()
    await s.bus.connect()
    long_id = uuid.uuid4()
    await s.service.on_event(edge70_signal("BTCUSDT", Direction.LONG, D(100), long_id, ts_ms=T0))
    await s.service.on_event(edge70_signal("BTCUSDT", Direction.SHORT, D(90), uuid.uuid4(), ts_ms=T0 + DAY))
    await s.service.on_event(sizing(long_id, "BTCUSDT", False, "max-open-positions"))
    book = await s.store.book("edge70")
    assert book.all_time.refusals == {"max-open-positions": 1}
    assert s.of(EdgePerformanceUpdated)[-1].cause_type == "EntrySized"


async def test_test_signals_other_accounts_and_manual_positions_are_not_counted():
    s = Setup()
    await s.service.on_event(edge70_signal("BTCUSDT", Direction.LONG, D(100), uuid.uuid4(), ts_ms=T0, test=True))
    await s.service.on_event(position_event("closed", 3, account="other", pnl="5", cost="50", closed=T0 + DAY))
    await s.service.on_event(position_event("closed", 4, edge=None, pnl="5", cost="50", closed=T0 + DAY))
    await s.service.on_event(position_event("reduced", 5))
    assert s.bus.published == [] and await s.store.edges() == []


class StaticPositions:
    def __init__(self, positions: list[Position]) -> None:
        self.positions = positions

    async def open_positions(self) -> list[Position]:
        return list(self.positions)


def held(symbol: str, quantity: str, cost: str, opened_ms: int, edge: str | None = "edge70") -> Position:
    return Position(symbol=symbol, base_asset=symbol[:-4], quote_asset="USDT", edge=edge, quantity=D(quantity),
                    cost_basis=D(cost), closed=False, opened_ms=opened_ms)  # fmt: skip


async def test_the_position_report_values_each_position_and_lists_one_without_a_price():
    bus = InMemoryBus()
    await bus.connect()
    symbols = [SymbolFilters(s, base_asset=s[:-4], quote_asset="USDT") for s in ("BTCUSDT", "SOLUSDT")]
    exchange = FakeSpotExchange(symbols, prices={"BTCUSDT": "110", "SOLUSDT": "9"})  # no ETHUSDT price
    positions = StaticPositions([held("BTCUSDT", "2", "200", T0), held("ETHUSDT", "1", "50", T0 + DAY),
                                 held("SOLUSDT", "10", "100", T0 + 2 * DAY, edge=None)])  # fmt: skip
    reporter = PositionPerformanceReporter(bus, positions, exchange, FixedClock(T0 + 3 * DAY))
    event = await reporter.report()
    assert [p.symbol for p in event.positions] == ["SOLUSDT", "BTCUSDT", "ETHUSDT"]  # by %, unpriced last
    sol, btc, eth = event.positions
    assert (btc.value, btc.unrealised_pnl, btc.unrealised_pct, btc.average_entry_price) == (
        D(220),
        D(20),
        D("10.00"),
        D(100),
    )
    assert (sol.unrealised_pnl, sol.unrealised_pct, sol.days_held) == (D(-10), D("-10.00"), D("1.00"))
    assert (eth.price, eth.value, eth.unrealised_pnl, eth.days_held) == (None, None, None, D("2.00"))
    assert event.unpriced == ("ETHUSDT",)
    assert (event.total_value, event.total_unrealised_pnl) == (D(310), D(10))
    [message] = [e for e in bus.published if isinstance(e, SendUserMessage)]
    assert message.kind == "position-performance"
    lines = message.text.splitlines()
    assert lines[0] == "3 open positions:" and lines[1].startswith("SOL: -10.00%") and "manual" in lines[1]
    assert lines[2].startswith("BTC: +10.00%") and lines[3].startswith("ETH: unpriced")
    assert [e for e in bus.published if isinstance(e, PositionsPerformanceReported)] == [event]


async def test_no_positions_gives_an_empty_report_and_no_message():
    bus = InMemoryBus()
    await bus.connect()
    reporter = PositionPerformanceReporter(bus, StaticPositions([]), FakeSpotExchange(), FixedClock(T0))
    event = await reporter.report()
    assert event.positions == () and bus.published == [event]


async def test_the_service_skips_reports_while_the_exchange_fails_and_reports_once_it_answers():
    class Flaky(FakeSpotExchange):
        down = True

        async def prices(self, symbols=None):
            if self.down:
                raise ConnectionError("exchange down")
            return await super().prices(symbols)

    bus = InMemoryBus()
    await bus.connect()
    btc = SymbolFilters("BTCUSDT", base_asset="BTC", quote_asset="USDT")
    exchange = Flaky([btc], prices={"BTCUSDT": "120"})
    settings = PerformanceSettings(performance_positions_interval_s=0.01)
    app = await build(settings, bus=bus, store=InMemoryPerformanceStore(),
                      positions=StaticPositions([held("BTCUSDT", "1", "100", T0)]), exchange=exchange,
                      clock=FixedClock(T0))  # fmt: skip
    stop = asyncio.Event()
    task = asyncio.create_task(report_periodically(app.reporter, 0.01, stop))
    await asyncio.sleep(0.05)
    assert [e for e in bus.published if isinstance(e, PositionsPerformanceReported)] == []  # skipped, still running
    assert not task.done()
    exchange.down = False
    await asyncio.sleep(0.05)
    stop.set()
    await task
    reports = [e for e in bus.published if isinstance(e, PositionsPerformanceReported)]
    assert reports and all(r.unpriced == () and r.total_unrealised_pnl == D(20) for r in reports)
    await app.aclose()


class CountingExchange(FakeSpotExchange):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.price_requests: list[list[str] | None] = []

    async def prices(self, symbols=None):
        self.price_requests.append(None if symbols is None else list(symbols))
        return await super().prices(symbols)


def three_positions() -> StaticPositions:
    return StaticPositions([held("BTCUSDT", "1", "100", T0), held("ETHUSDT", "1", "50", T0),
                            held("SOLUSDT", "1", "5", T0)])  # fmt: skip


async def test_a_rate_limited_price_request_skips_the_report_without_asking_symbol_by_symbol():
    bus = InMemoryBus()
    await bus.connect()
    symbols = [SymbolFilters(s, base_asset=s[:-4], quote_asset="USDT") for s in ("BTCUSDT", "ETHUSDT", "SOLUSDT")]
    exchange = CountingExchange(symbols, prices={"BTCUSDT": "110", "ETHUSDT": "60", "SOLUSDT": "6"})
    exchange.rate_limit_next(retry_after_s=30)
    reporter = PositionPerformanceReporter(bus, three_positions(), exchange, FixedClock(T0))
    with pytest.raises(ExchangeUnavailable, match="rate limited"):
        await reporter.report()
    assert len(exchange.price_requests) == 1 and bus.published == []  # one request, not 1 + one per symbol
    event = await reporter.report()  # next time: reported
    assert event.unpriced == () and len(exchange.price_requests) == 2


async def test_an_invalid_symbol_in_the_batch_asks_symbol_by_symbol_and_lists_it_unpriced():
    bus = InMemoryBus()
    await bus.connect()
    symbols = [SymbolFilters(s, base_asset=s[:-4], quote_asset="USDT") for s in ("BTCUSDT", "SOLUSDT")]
    exchange = CountingExchange(symbols, prices={"BTCUSDT": "110", "SOLUSDT": "6"})  # ETHUSDT unknown: -1121
    event = await PositionPerformanceReporter(bus, three_positions(), exchange, FixedClock(T0)).report()
    assert event.unpriced == ("ETHUSDT",)
    assert exchange.price_requests == [["BTCUSDT", "ETHUSDT", "SOLUSDT"], ["BTCUSDT"], ["ETHUSDT"], ["SOLUSDT"]]


async def test_a_position_reopened_by_a_late_fill_and_closed_again_counts_once_with_the_full_pnl():
    """The real position-tracker: the entry's second fill arrives after the first close (REST back-fill), which
    reopens the period (same opened_at_ms) — the tracker publishes a second `closed` for it, and the performance
    totals keep only that corrected one."""
    filters = {"BTCUSDT": SymbolFilters("BTCUSDT", step_size=D("0.00001"), min_qty=D("0.00001"),
                                        min_notional=D("5"), base_asset="BTC", quote_asset="USDT")}  # fmt: skip
    tracker_bus = InMemoryBus()
    await tracker_bus.connect()
    tracker = PositionTracker(tracker_bus, InMemoryTrackerStore(), StaticFilters(filters), FixedClock(T0))
    s = Setup()
    await s.bus.connect()
    day = T0 + 1000
    fills = [
        trade_report(1, "BUY", 11, "0.4", "100", day),  # the entry's first fill
        trade_report(3, "SELL", 14, "0.4", "120", day + 10 * DAY),  # sells what the tracker knows: closed
        trade_report(1, "BUY", 12, "0.6", "100", day + 1),  # the entry's second fill, learnt late: reopened
        trade_report(4, "SELL", 15, "0.6", "90", day + 12 * DAY),  # closed again, same holding period
    ]
    for report_ in fills:
        await tracker.on_report(report_)
    changes = [e for e in tracker_bus.published if isinstance(e, PositionChanged)]
    closes = [e for e in changes if e.change == "closed"]
    assert [e.change for e in changes] == ["opened", "closed", "opened", "closed"]
    assert closes[0].opened_at_ms == closes[1].opened_at_ms == day  # one holding period, closed twice
    for event in changes:
        await s.service.on_event(event)
    book = (await s.store.book("edge70")).all_time.real
    assert (book.closed, book.pnl_sum, book.cost_sum) == (1, closes[1].period_realised_pnl, closes[1].period_cost)
    assert book.pnl_sum == D("0.4") * 20 + D("0.6") * -10  # both sells, no fee
    (_, corrected) = [m for m in s.messages("edge-performance")]
    assert "Corrected (late fill)" in corrected.text


def test_the_edge_events_queue_is_the_production_one_unless_performance_queue_names_another():
    default = load_settings(PerformanceSettings)
    sub = performance_edge_events(queue=default.performance_queue, expires_ms=default.performance_queue_expires_ms)
    assert (sub.queue, sub.extra_arguments) == ("performance.edge-events", {})
    own = load_settings(PerformanceSettings, performance_queue="test.performance.x1", performance_queue_expires_ms=6000)
    sub = performance_edge_events(queue=own.performance_queue, expires_ms=own.performance_queue_expires_ms)
    assert (sub.queue, sub.extra_arguments) == ("test.performance.x1", {"x-expires": 6000})


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("PERFORMANCE_POSITIONS_INTERVAL_S", "0"),
        ("PERFORMANCE_KEY_PREFIX", "a b"),
        ("PERFORMANCE_UPDATE_ATTEMPTS", "x"),
        ("PERFORMANCE_ACCOUNT", "main.acc"),
        ("PERFORMANCE_ACCOUNT", "a b"),
        ("PERFORMANCE_ACCOUNT", "x" * 65),
        ("PERFORMANCE_QUEUE", "has space"),
        ("PERFORMANCE_QUEUE_EXPIRES_MS", "-1"),
    ],
)
def test_a_bad_performance_setting_fails_naming_the_variable(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(SettingsError) as exc:
        load_settings(PerformanceSettings)
    assert var in exc.value.message


async def test_a_late_fill_inside_a_closed_period_publishes_its_corrected_close_and_the_totals_follow():
    """The real position-tracker: a partial sell at t2 is learnt after the close at t3 — the position stays closed,
    but the period's P&L changes; the tracker publishes the corrected `closed` (more fills known, though its fill is
    older) and the performance totals keep that one."""
    filters = {"BTCUSDT": SymbolFilters("BTCUSDT", step_size=D("0.00001"), min_qty=D("0.00001"),
                                        min_notional=D("5"), base_asset="BTC", quote_asset="USDT")}  # fmt: skip
    tracker_bus = InMemoryBus()
    await tracker_bus.connect()
    tracker = PositionTracker(tracker_bus, InMemoryTrackerStore(), StaticFilters(filters), FixedClock(T0))
    s = Setup()
    await s.bus.connect()
    day = T0 + 1000
    for report_ in (
        trade_report(1, "BUY", 11, "1", "100", day),
        trade_report(3, "SELL", 14, "1", "120", day + 10 * DAY),  # closed: +20
        trade_report(2, "SELL", 12, "0.5", "110", day + 5 * DAY),  # learnt late, sorted before the close
    ):
        await tracker.on_report(report_)
    closes = [e for e in tracker_bus.published if isinstance(e, PositionChanged) and e.change == "closed"]
    assert len(closes) == 2 and closes[1].fills_known > closes[0].fills_known
    assert closes[1].ts_event_ms < closes[0].ts_event_ms  # the correction's fill is the older one
    for event in reversed([e for e in tracker_bus.published if isinstance(e, PositionChanged)]):
        await s.service.on_event(event)  # any order
    book = (await s.store.book("edge70")).all_time.real
    assert (book.closed, book.pnl_sum) == (1, closes[1].period_realised_pnl)
    assert closes[1].period_realised_pnl == D("0.5") * 10 + D("0.5") * 20  # the sell at 120 matched only 0.5 held
