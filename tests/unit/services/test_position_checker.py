"""position-checker with fakes (InMemoryBus, FakeSpotExchange, in-memory positions): a mismatch is reported only
when a re-check confirms it, reminded after CHECKER_REMIND_S, cleared with an all-clear; a check that cannot read
the exchange reports nothing and marks the service not ready."""

from __future__ import annotations

import asyncio
from decimal import Decimal as D

import pytest

from binance_tool.bus.api import Binding, Subscription
from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.config import SettingsError, load_settings
from binance_tool.events import Envelope, SendUserMessage, Severity
from binance_tool.events.reconciliation import PositionMismatchFound, PositionsChecked
from binance_tool.exchange.execution import OrderOutcome, OrderRequest, OrderType, Side, TimeInForce, client_order_id
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.tracking import Position, PositionFill, position_from_fills
from binance_tool.trading.filters import SymbolFilters
from services.position_checker.main import build
from services.position_checker.open_store import InMemoryOpenMismatchStore
from services.position_checker.service import FAILING_KIND, MESSAGE_KIND, CheckerConfig, PositionChecker
from services.position_checker.settings import CheckerSettings
from services.position_checker.sources import InMemoryPositions, TrackedPositions
from services.trackers.store import InMemoryTrackerStore

BTC = SymbolFilters(
    "BTCUSDT", tick_size=D("0.01"), step_size=D("0.0001"), min_qty=D("0.0001"), min_notional=D("5"),
    base_asset="BTC", quote_asset="USDT",
)  # fmt: skip
T0 = 1_700_000_000_000
HOUR = 3_600_000


async def eventually(predicate, within_s: float = 5.0) -> None:
    async with asyncio.timeout(within_s):
        while True:
            if predicate():
                return
            await asyncio.sleep(0.01)


def position(qty: str, edge: str | None = "edge70", trade_id: int = 1) -> Position:
    fill = PositionFill(trade_id, 1, Side.BUY, D(qty), D("50000"), D(0), "USDT", T0, edge)
    return position_from_fills([fill], BTC)


async def place_stop(exchange: FakeSpotExchange, qty: str, signal: str = "sig-1") -> str:
    cid = client_order_id("edge70", signal, "s1")
    request = OrderRequest(
        "BTCUSDT", Side.SELL, OrderType.STOP_LOSS_LIMIT, D(qty), cid, D("39900"), D("40000"), TimeInForce.GTC
    )
    result = await exchange.place_order(request)
    assert result.outcome is OrderOutcome.ACCEPTED, result
    return cid


class Harness:
    """The checker on fakes; `between` runs during the confirm delay (what changes before the re-check)."""

    def __init__(
        self,
        confirm_delay_s: float = 30,
        remind_s: float = 4 * 3600,
        alert_after: int = 3,
        open_store: InMemoryOpenMismatchStore | None = None,
    ) -> None:
        self.exchange = FakeSpotExchange([BTC], balances={"USDT": "1000"}, prices={"BTCUSDT": "50000"})
        self.positions = InMemoryPositions()
        self.clock = FixedClock(T0)
        self.bus = InMemoryBus()
        self.between: list = []
        self.slept: list[float] = []
        config = CheckerConfig(
            "default", CheckerSettings().reconcile_settings(), 900, confirm_delay_s, remind_s, alert_after
        )
        self.checker = PositionChecker(
            self.bus, self.exchange, self.exchange, self.positions, config, self.clock, sleep=self._sleep,
            open_store=open_store,
        )  # fmt: skip

    async def _sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.clock.advance(int(seconds * 1000))
        while self.between:
            change = self.between.pop(0)
            result = change()
            if asyncio.iscoroutine(result):
                await result

    def published(self, cls: type[Envelope]) -> list:
        return [e for e in self.bus.published if isinstance(e, cls)]

    def clear(self) -> None:
        self.bus.published.clear()


@pytest.fixture
async def h() -> Harness:
    harness = Harness()
    await harness.bus.connect()
    return harness


async def test_a_start_up_check_with_everything_matching_reports_no_mismatch_and_is_ready(h: Harness):
    h.exchange.set_balance("BTC", "0.5")
    h.positions.set([position("0.5")])
    await place_stop(h.exchange, "0.5")
    outcome = await h.checker.check_once()
    assert outcome is not None and outcome.confirmed == () and h.slept == []
    (summary,) = h.published(PositionsChecked)
    assert (summary.positions, summary.balances_compared, summary.mismatch_count, summary.kinds) == (1, 1, 0, ())
    assert h.published(PositionMismatchFound) == [] and h.published(SendUserMessage) == []
    assert h.checker.health.ready


async def test_a_fill_in_flight_between_the_exchange_and_the_trackers_is_not_reported(h: Harness):
    # the exchange already holds the bought BTC and its stop; the trackers learn the fill during the confirm delay
    h.exchange.set_balance("BTC", "0.5")
    await place_stop(h.exchange, "0.5")
    h.between.append(lambda: h.positions.set([position("0.5")]))
    outcome = await h.checker.check_once()
    assert outcome is not None and h.slept == [30]
    # a balance and a stop without a position at first: both gone at the re-check
    assert outcome.confirmed == () and outcome.unconfirmed == 2
    (summary,) = h.published(PositionsChecked)
    assert (summary.mismatch_count, summary.unconfirmed) == (0, 2)
    assert h.published(PositionMismatchFound) == [] and h.published(SendUserMessage) == []


async def test_a_confirmed_mismatch_is_reported_reminded_and_cleared(h: Harness):
    h.exchange.set_balance("BTC", "0.5")
    h.positions.set([position("0.5")])  # no stop on the exchange
    first = await h.checker.check_once()
    assert first is not None
    (found,) = h.published(PositionMismatchFound)
    assert (found.kind, found.asset, found.edge, found.expected, found.actual) == (
        "position_without_stop", "BTC", "edge70", D("0.5"), D(0),
    )  # fmt: skip
    assert found.event_id == PositionMismatchFound.id_for("default", first.check_id, found.kind, "BTC", "edge70")
    (message,) = h.published(SendUserMessage)
    assert (message.kind, message.severity) == (MESSAGE_KIND, Severity.WARNING)
    assert "no open stop" in message.text and message.tags["asset"] == "BTC"
    (summary,) = h.published(PositionsChecked)
    assert (summary.mismatch_count, summary.kinds, summary.check_id) == (1, ("position_without_stop",), first.check_id)

    h.clear()  # an hour later: still there; the event again, no new message (remind after 4 h)
    h.clock.advance(HOUR)
    second = await h.checker.check_once()
    assert second is not None and second.check_id != first.check_id
    (again,) = h.published(PositionMismatchFound)
    assert again.event_id != found.event_id and again.first_seen_ms == found.first_seen_ms
    assert h.published(SendUserMessage) == []

    h.clear()  # 4 h after it was told: reminded
    h.clock.advance(3 * HOUR)
    await h.checker.check_once()
    (reminder,) = h.published(SendUserMessage)
    assert reminder.severity is Severity.WARNING and "still open" in reminder.text

    h.clear()  # the stop is placed: all clear, once
    await place_stop(h.exchange, "0.5")
    cleared = await h.checker.check_once()
    assert cleared is not None and cleared.all_clear
    (ok,) = h.published(SendUserMessage)
    assert (ok.kind, ok.severity) == (MESSAGE_KIND, Severity.INFO)
    assert "all positions match" in ok.text and "position_without_stop BTC" in ok.text
    h.clear()
    assert (await h.checker.check_once()) is not None
    assert h.published(SendUserMessage) == []


async def test_a_new_mismatch_next_to_a_known_one_is_told_at_once(h: Harness):
    h.exchange.set_balance("BTC", "0.5")
    h.positions.set([position("0.5")])
    await h.checker.check_once()
    h.clear()
    h.exchange.set_balance("ETH", "3")  # no ETHUSDT price nor filters: reported, not valued
    await h.checker.check_once()
    (told,) = h.published(SendUserMessage)
    assert "ETH" in told.text and "is in no position" in told.text
    assert {e.kind for e in h.published(PositionMismatchFound)} == {"position_without_stop", "balance_without_position"}


async def test_an_unreachable_exchange_reports_nothing_and_marks_not_ready_until_a_check_succeeds(h: Harness):
    h.exchange.set_balance("BTC", "0.5")
    h.positions.set([position("0.5")])
    h.exchange.unavailable_next()
    assert await h.checker.check_once() is None
    assert h.bus.published == [] and not h.checker.health.ready and h.checker.failures == 1
    assert "failed" in h.checker.health.details["last_check"]
    assert await h.checker.check_once() is not None
    assert h.checker.health.ready and h.published(PositionMismatchFound)


async def test_a_failure_at_the_re_check_reports_nothing(h: Harness):
    h.exchange.set_balance("BTC", "0.5")
    h.positions.set([position("0.5")])
    h.between.append(lambda: h.exchange.unavailable_next())
    assert await h.checker.check_once() is None
    assert h.bus.published == [] and not h.checker.health.ready


async def test_an_unreadable_positions_store_reports_nothing(h: Harness):
    h.exchange.set_balance("BTC", "0.5")
    h.positions.fail_next()
    assert await h.checker.check_once() is None
    assert h.bus.published == []


async def test_one_clean_reading_between_two_dirty_ones_is_no_all_clear(h: Harness):
    h.exchange.set_balance("BTC", "0.7")  # 0.2 BTC in no position
    h.positions.set([position("0.5")])
    await place_stop(h.exchange, "0.5")
    assert (await h.checker.check_once()) is not None
    key = ("balance_without_position", "BTC", "-")
    assert h.checker.open_mismatches == {key}
    h.clear()  # clean at the check, back at its re-check (e.g. a transfer in flight): still open, nothing told
    h.exchange.set_balance("BTC", "0.5")
    h.between.append(lambda: h.exchange.set_balance("BTC", "0.7"))
    outcome = await h.checker.check_once()
    assert outcome is not None and not outcome.all_clear and h.slept[-1] == 30
    assert h.checker.open_mismatches == {key} and h.published(SendUserMessage) == []
    h.clear()  # clean at the check and at its re-check: the all-clear, once
    h.exchange.set_balance("BTC", "0.5")
    cleared = await h.checker.check_once()
    assert cleared is not None and cleared.all_clear and h.checker.open_mismatches == frozenset()
    (ok,) = h.published(SendUserMessage)
    assert ok.severity is Severity.INFO and "all positions match" in ok.text


async def test_without_a_re_check_a_mismatch_is_cleared_after_two_consecutive_clean_checks():
    h = Harness(confirm_delay_s=0)
    await h.bus.connect()
    h.exchange.set_balance("BTC", "0.7")
    h.positions.set([position("0.5")])
    await place_stop(h.exchange, "0.5")
    await h.checker.check_once()
    assert len(h.checker.open_mismatches) == 1
    h.clear()
    h.exchange.set_balance("BTC", "0.5")
    first_clean = await h.checker.check_once()
    assert first_clean is not None and not first_clean.all_clear and len(h.checker.open_mismatches) == 1
    assert h.published(SendUserMessage) == [] and h.slept == []
    second_clean = await h.checker.check_once()
    assert second_clean is not None and second_clean.all_clear and h.checker.open_mismatches == frozenset()
    (ok,) = h.published(SendUserMessage)
    assert ok.kind == MESSAGE_KIND and ok.severity is Severity.INFO


async def test_a_mismatch_back_after_one_clean_check_is_not_told_again_as_new():
    h = Harness(confirm_delay_s=0)
    await h.bus.connect()
    h.exchange.set_balance("BTC", "0.7")
    h.positions.set([position("0.5")])
    await place_stop(h.exchange, "0.5")
    await h.checker.check_once()
    (first_seen,) = h.published(PositionMismatchFound)
    h.clear()
    h.exchange.set_balance("BTC", "0.5")
    await h.checker.check_once()  # one clean check
    h.exchange.set_balance("BTC", "0.7")
    await h.checker.check_once()  # back: the same mismatch, no new message
    (again,) = h.published(PositionMismatchFound)
    assert again.first_seen_ms == first_seen.first_seen_ms
    assert h.published(SendUserMessage) == []


async def test_failing_checks_tell_the_user_once_after_the_setting_and_once_when_they_work_again(h: Harness):
    h.exchange.set_balance("BTC", "0.5")
    h.positions.set([position("0.5")])
    await place_stop(h.exchange, "0.5")
    h.positions.fail_next(5)
    for _ in range(2):
        assert await h.checker.check_once() is None
    assert h.bus.published == []  # two failures: below CHECKER_ALERT_AFTER_FAILURES (3)
    for _ in range(3):
        assert await h.checker.check_once() is None
    (failing,) = h.published(SendUserMessage)  # one message for the third, fourth and fifth failures
    assert (failing.kind, failing.severity, failing.tags["state"]) == (FAILING_KIND, Severity.ERROR, "failing")
    assert "3 times in a row" in failing.text and "UnreadablePositions" in failing.text
    assert h.checker.consecutive_failures == 5 and not h.checker.health.ready
    h.clear()
    assert await h.checker.check_once() is not None
    (back,) = h.published(SendUserMessage)
    assert (back.kind, back.severity, back.tags["state"]) == (FAILING_KIND, Severity.INFO, "recovered")
    assert h.checker.consecutive_failures == 0 and h.checker.health.ready
    h.clear()
    assert await h.checker.check_once() is not None
    assert h.published(SendUserMessage) == []  # working checks tell nothing more


async def test_a_failure_streak_shorter_than_the_setting_tells_nothing_and_starts_again_after_a_success(h: Harness):
    h.exchange.set_balance("BTC", "0.5")
    h.positions.set([position("0.5")])
    await place_stop(h.exchange, "0.5")
    for _ in range(3):
        h.positions.fail_next(2)
        assert await h.checker.check_once() is None
        assert await h.checker.check_once() is None
        assert await h.checker.check_once() is not None
    assert h.published(SendUserMessage) == [] and h.checker.failures == 6


async def test_the_events_cross_the_bus_and_decode(h: Harness):
    seen: list[Envelope] = []
    sub = Subscription(
        queue="test.position-checker",
        bindings=(Binding(PositionsChecked.EXCHANGE, "reconciliation.#"), Binding(SendUserMessage.EXCHANGE, "#")),
        accepts=(PositionMismatchFound, PositionsChecked, SendUserMessage),
    )
    await h.bus.declare([sub])

    async def collect(event: Envelope, _delivery) -> None:
        seen.append(event)

    consumer = await h.bus.consume(sub, collect)
    h.exchange.set_balance("BTC", "0.7")
    h.positions.set([position("0.5")])
    await place_stop(h.exchange, "0.5")
    await h.checker.check_once()
    await eventually(lambda: len(seen) >= 3)
    await consumer.stop()
    assert sorted(type(e).__name__ for e in seen) == ["PositionMismatchFound", "PositionsChecked", "SendUserMessage"]
    (found,) = [e for e in seen if isinstance(e, PositionMismatchFound)]
    assert (found.kind, found.difference, found.value_quote) == ("balance_without_position", D("0.2"), D("10000"))
    assert h.bus.dead_letters == []


async def test_build_and_run_check_at_start_up_then_stop():
    settings = load_settings(CheckerSettings, checker_interval_s=3600, checker_confirm_delay_s=0)
    exchange = FakeSpotExchange([BTC], balances={"USDT": "10", "BTC": "0.5"}, prices={"BTCUSDT": "50000"})
    bus = InMemoryBus()
    await bus.connect()
    app = await build(
        settings, bus=bus, exchange=(exchange, exchange), positions=TrackedPositions(InMemoryTrackerStore())
    )
    stop = asyncio.Event()
    task = asyncio.create_task(app.checker.run(stop))
    await eventually(lambda: app.health.ready)
    stop.set()
    await asyncio.wait_for(task, 5)
    await app.aclose()
    (found,) = [e for e in bus.published if isinstance(e, PositionMismatchFound)]
    assert (found.kind, found.asset) == ("balance_without_position", "BTC")
    assert app.checker.checks == 1
    assert [c for c in exchange.calls if c[0] == "balances"] == [("balances", None)]  # delay 0: no re-check


def test_checker_settings_parse_and_refuse_bad_values():
    s = load_settings(CheckerSettings, checker_ignore_assets=" bnb, agi ,", checker_tolerance_quote="2.5")
    conf = s.reconcile_settings()
    assert conf.ignore_assets == frozenset({"BNB", "AGI"}) and conf.tolerance_quote == D("2.5")
    with pytest.raises(SettingsError, match="CHECKER_TOLERANCE_QUOTE"):
        load_settings(CheckerSettings, checker_tolerance_quote="-1")
    with pytest.raises(SettingsError, match="CHECKER_IGNORE_ASSETS"):
        load_settings(CheckerSettings, checker_ignore_assets="BNB,B-X")
    with pytest.raises(SettingsError, match="CHECKER_INTERVAL_S"):
        load_settings(CheckerSettings, checker_interval_s="0")
    assert load_settings(CheckerSettings).checker_alert_after_failures == 3
    with pytest.raises(SettingsError, match="CHECKER_ALERT_AFTER_FAILURES"):
        load_settings(CheckerSettings, checker_alert_after_failures="0")


@pytest.mark.parametrize("account", ["acc.1", "a b", "", "x" * 65, "a#b"])
def test_a_checker_account_that_would_split_a_routing_key_is_refused(account: str):
    with pytest.raises(SettingsError, match="CHECKER_ACCOUNT"):
        load_settings(CheckerSettings, checker_account=account)
    assert load_settings(CheckerSettings, checker_account="main_acc-2").checker_account == "main_acc-2"


async def test_a_restart_neither_tells_again_what_was_told_nor_forgets_the_all_clear():
    store = InMemoryOpenMismatchStore()
    before = Harness(confirm_delay_s=0, open_store=store)
    await before.bus.connect()
    before.exchange.set_balance("BTC", "0.7")
    before.positions.set([position("0.5")])
    await place_stop(before.exchange, "0.5")
    await before.checker.check_once()
    assert len(before.published(SendUserMessage)) == 1  # told once, then the process restarts
    after = Harness(confirm_delay_s=0, open_store=store)  # a new process, the same Redis state
    await after.bus.connect()
    after.exchange, after.checker.account_data, after.checker.execution = (before.exchange,) * 3
    after.positions.set([position("0.5")])
    after.clock.advance(HOUR)
    await after.checker.check_once()
    assert after.published(SendUserMessage) == [] and len(after.published(PositionMismatchFound)) == 1
    before.exchange.set_balance("BTC", "0.5")  # fixed while the checker was down
    await after.checker.check_once()
    await after.checker.check_once()
    (ok,) = after.published(SendUserMessage)
    assert ok.severity is Severity.INFO and after.checker.open_mismatches == frozenset()
