"""Edge performance, pure: signal trades (paper long → short), entered or not, and the per-edge totals — with
duplicates and any arrival order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from services.performance.edge_results import (
    NOT_FILLED,
    NOT_SIZED,
    PENDING,
    ClosedPositionFact,
    EdgeBook,
    Fact,
    MarketRef,
    PositionClosed,
    PositionOpened,
    SignalFact,
    SignalSeen,
    SizingFact,
    SizingSeen,
    apply_fact,
    effective_closes,
    empty_record,
    signal_trades,
)

BTC = MarketRef("edge70", "BTCUSDT", "BTC")
ETH = MarketRef("edge70", "ETHUSDT", "ETH")
DAY = 86_400_000


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def sid(name: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_OID, name))


def signal(market: MarketRef, name: str, direction: str, price: str, day: str) -> SignalSeen:
    return SignalSeen(market, SignalFact(event_id=sid(name), direction=direction, price=D(price), ts_ms=ms(day)))


def sized(market: MarketRef, name: str, accepted: bool, refusal: str | None = None) -> SizingSeen:
    return SizingSeen(market, sid(name), SizingFact(accepted=accepted, refusal=refusal, reason=refusal or "ok"))


def opened(market: MarketRef, name: str, day: str) -> PositionOpened:
    return PositionOpened(market, sid(name), ms(day) + 60_000)


def closed(market: MarketRef, name: str, pnl: str, cost: str, opened_day: str, closed_day: str) -> PositionClosed:
    fact = ClosedPositionFact(event_id=sid(name), realised_pnl=D(pnl), cost=D(cost),
                              opened_at_ms=ms(opened_day) + 60_000, closed_at_ms=ms(closed_day) + 60_000)  # fmt: skip
    return PositionClosed(market, fact)


def run(facts: list[Fact]):
    """Apply the facts like the store does (records per market, one book per edge); the final state."""
    records: dict[str, object] = {}
    book = EdgeBook(edge="edge70")
    applied = []
    for f in facts:
        record = records.get(f.market.symbol) or empty_record(f.market)
        a = apply_fact(record, book, f)  # type: ignore[arg-type]
        records[f.market.symbol], book = a.record, a.book
        applied.append(a)
    return records, book, applied


# A year of BTC and ETH: BTC entered twice (one win, one loss), ETH refused once, not sized once.
HISTORY: list[Fact] = [
    signal(BTC, "b-long-1", "long", "100", "2024-01-05"),
    sized(BTC, "b-long-1", True),
    opened(BTC, "b-open-1", "2024-01-05"),
    signal(BTC, "b-long-dup", "long", "105", "2024-01-09"),  # a second long while open: ignored
    signal(BTC, "b-short-1", "short", "120", "2024-01-20"),
    closed(BTC, "b-close-1", "19.5", "100.1", "2024-01-05", "2024-01-20"),
    signal(BTC, "b-short-0", "short", "90", "2024-01-25"),  # a short while flat: ignored
    signal(BTC, "b-long-2", "long", "200", "2024-02-10"),
    sized(BTC, "b-long-2", True),
    opened(BTC, "b-open-2", "2024-02-10"),
    signal(BTC, "b-short-2", "short", "150", "2024-03-02"),
    closed(BTC, "b-close-2", "-25.2", "100.2", "2024-02-10", "2024-03-02"),
    signal(ETH, "e-long-1", "long", "10", "2024-02-01"),
    sized(ETH, "e-long-1", False, "max-open-positions"),
    signal(ETH, "e-short-1", "short", "11", "2024-02-15"),
    signal(ETH, "e-long-2", "long", "8", "2024-03-01"),
    signal(ETH, "e-short-2", "short", "6", "2024-03-20"),
]


def test_a_long_opens_a_signal_trade_the_next_short_closes_it_and_strays_are_ignored():
    records, _, _ = run(HISTORY)
    trades = signal_trades(records["BTCUSDT"])  # type: ignore[arg-type]
    assert [(t.entry.price, t.exit.price if t.exit else None) for t in trades] == [(D(100), D(120)), (D(200), D(150))]
    assert [t.return_pct for t in trades] == [D("20.0000"), D("-25.0000")]
    assert all(t.entered for t in trades)


def test_a_signal_trade_not_entered_says_why():
    records, book, _ = run(HISTORY)
    trades = signal_trades(records["ETHUSDT"])  # type: ignore[arg-type]
    assert [(t.entered, t.not_entered_reason) for t in trades] == [(False, "max-open-positions"), (False, NOT_SIZED)]
    assert book.all_time.refusals == {"max-open-positions": 1, NOT_SIZED: 1}


def test_totals_count_real_and_signal_trades_all_time_and_per_month():
    _, book, _ = run(HISTORY)
    t = book.all_time
    assert (t.real.closed, t.real.wins, t.real.losses) == (2, 1, 1)
    assert t.real.pnl_sum == D("19.5") + D("-25.2")
    r1, r2 = (D("19.5") / D("100.1") * 100).quantize(D("0.0001")), (D("-25.2") / D("100.2") * 100).quantize(D("0.0001"))
    assert t.real.average_return_pct == (r1 + r2) / 2
    assert t.real.days_sum == D(15) + D(21)
    # signal trades: BTC +20, −25 (entered); ETH +10, −25 (not entered)
    assert (t.signals.closed, t.signals.wins, t.signals.losses) == (4, 2, 2)
    assert t.signals.average_return_pct == (D(20) - 25 + 10 - 25) / 4
    assert (t.entered.closed, t.entered.return_pct_sum) == (2, D(-5))
    assert (t.not_entered.closed, t.not_entered.return_pct_sum) == (2, D(-15))
    assert sorted(book.months) == ["2024-01", "2024-02", "2024-03"]
    assert (book.months["2024-01"].real.closed, book.months["2024-01"].signals.closed) == (1, 1)
    assert (book.months["2024-02"].real.closed, book.months["2024-02"].signals.closed) == (0, 1)  # ETH's first
    assert (book.months["2024-03"].real.closed, book.months["2024-03"].signals.closed) == (1, 2)


def test_a_duplicate_fact_is_known_and_changes_nothing():
    records, book, _ = run(HISTORY)
    for fact in HISTORY:
        a = apply_fact(records[fact.market.symbol], book, fact)  # type: ignore[arg-type]
        assert a.known and not a.totals_changed and a.book == book and a.record == records[fact.market.symbol]


def test_a_short_before_any_long_then_the_long_late_still_makes_the_trade():
    """The short arrives first (nothing to close), then its (earlier) long: the trade appears, closed."""
    facts = [signal(BTC, "s", "short", "120", "2024-01-20"), signal(BTC, "l", "long", "100", "2024-01-05")]
    _, book_first, applied = run(facts[:1])
    assert book_first.all_time.signals.closed == 0 and applied[0].closed_trade is None
    records, book, _ = run(facts)
    assert [t.return_pct for t in signal_trades(records["BTCUSDT"])] == [D("20.0000")]  # type: ignore[arg-type]
    assert book.all_time.not_entered.closed == 1 and book.all_time.refusals == {NOT_SIZED: 1}


def test_a_position_closed_before_the_sizing_decision_still_counts_the_trade_as_entered():
    facts = [
        signal(BTC, "l", "long", "100", "2024-01-05"),
        signal(BTC, "s", "short", "110", "2024-01-20"),
        closed(BTC, "c", "9", "100", "2024-01-05", "2024-01-20"),
    ]
    _, before, _ = run(facts)
    assert before.all_time.not_entered.closed == 1 and before.all_time.entered.closed == 0
    _, after, applied = run([*facts, sized(BTC, "l", True)])
    assert applied[-1].totals_changed
    assert after.all_time.entered.closed == 1 and after.all_time.not_entered.closed == 0
    assert after.all_time.refusals == {}  # the "not sized" count moved away, not left behind
    assert after.all_time.real.closed == 1


def test_accepted_without_a_position_is_pending_while_open_and_not_filled_once_closed():
    records, _, _ = run([signal(BTC, "l", "long", "100", "2024-01-05"), sized(BTC, "l", True)])
    assert signal_trades(records["BTCUSDT"])[0].not_entered_reason == PENDING  # type: ignore[arg-type]
    records, book, _ = run(
        [
            signal(BTC, "l", "long", "100", "2024-01-05"),
            sized(BTC, "l", True),
            signal(BTC, "s", "short", "90", "2024-01-09"),
        ]
    )
    assert signal_trades(records["BTCUSDT"])[0].not_entered_reason == NOT_FILLED  # type: ignore[arg-type]
    assert book.all_time.refusals == {NOT_FILLED: 1}


def test_a_position_opened_outside_the_signal_trade_does_not_make_it_entered():
    facts = [signal(BTC, "l", "long", "100", "2024-01-05"), sized(BTC, "l", True),
             signal(BTC, "s", "short", "90", "2024-01-09"), opened(BTC, "o", "2024-02-01")]  # fmt: skip
    records, _, _ = run(facts)
    assert not signal_trades(records["BTCUSDT"])[0].entered  # type: ignore[arg-type]


def test_the_message_facts_say_what_closed():
    _, _, applied = run(HISTORY)
    closing = [a for a in applied if a.closed_trade or a.closed_position]
    assert len(closing) == 6  # 4 signal trades closed + 2 positions closed
    assert applied[4].closed_trade is not None and applied[4].closed_trade.return_pct == D("20.0000")
    assert applied[5].closed_position is not None and applied[5].closed_position.days_held == D("15.00")
    assert applied[6].closed_trade is None  # the stray short closed nothing


@settings(max_examples=150, deadline=None)
@given(st.permutations(HISTORY + HISTORY[::3]))
def test_any_order_with_duplicates_gives_the_same_records_and_totals(facts):
    reference_records, reference_book, _ = run(HISTORY)
    records, book, _ = run(list(facts))
    assert book == reference_book
    assert records == reference_records


def test_long_decimals_from_the_tracker_do_not_make_the_sums_drift():
    """P&L of 28 significant digits (the tracker's pro-rata cost) are summed to 8 decimals: replacing a
    market's contributions again and again leaves the sums exact."""
    facts: list[Fact] = [signal(BTC, "l", "long", "3", "2024-01-01")]
    expected = D(0)
    for i, (num, den) in enumerate([(1, 3), (2, 7), (-5, 11), (10, 13)]):
        pnl = D(num) / D(den)
        expected += pnl.quantize(D("0.00000001"))
        day = f"2024-01-{2 * i + 2:02d}"
        facts.append(closed(BTC, f"c{i}", str(pnl), "7", day, day))
        facts.append(signal(BTC, f"x{i}", "short", "7", day))  # each re-derives the market's contributions
    _, book, _ = run(facts)
    assert book.all_time.real.pnl_sum == expected
    assert book.all_time.real.cost_sum == 4 * 7


# --- a holding period closed twice (a late fill reopened it) ----------------------------------------------------
def close_version(name: str, pnl: str, cost: str, cause_day: str, trade_id: int, opened_day: str = "2024-03-01"):
    fact = ClosedPositionFact(event_id=sid(name), realised_pnl=D(pnl), cost=D(cost),
                              opened_at_ms=ms(opened_day) + 60_000, closed_at_ms=ms(cause_day) + 60_000,
                              cause_ms=ms(cause_day) + 60_000, cause_trade_id=trade_id)  # fmt: skip
    return PositionClosed(BTC, fact)


FIRST_CLOSE = close_version("p-close-v1", "5", "100", "2024-03-10", 14)
CORRECTED_CLOSE = close_version("p-close-v2", "9", "150", "2024-03-12", 15)  # the period's full P&L
OTHER_PERIOD = close_version("q-close", "-2", "50", "2024-04-10", 20, opened_day="2024-04-01")


def test_a_later_close_of_the_same_holding_period_replaces_the_earlier_one_in_the_totals():
    _, book, applied = run([FIRST_CLOSE, CORRECTED_CLOSE])
    real = book.all_time.real
    assert (real.closed, real.pnl_sum, real.cost_sum, real.wins) == (1, D(9), D(150), 1)
    assert book.months["2024-03"].real.closed == 1
    second = applied[1]
    assert second.totals_changed and second.closed_position is not None
    assert second.closed_position.realised_pnl == D(9)
    assert second.corrected is not None and second.corrected.realised_pnl == D(5)


def test_the_earlier_close_arriving_after_its_correction_changes_nothing_and_closes_nothing():
    _, book, applied = run([CORRECTED_CLOSE, FIRST_CLOSE])
    assert (book.all_time.real.closed, book.all_time.real.pnl_sum) == (1, D(9))
    late = applied[1]
    assert not late.known and not late.totals_changed and late.closed_position is None


@given(st.permutations([FIRST_CLOSE, CORRECTED_CLOSE, OTHER_PERIOD, FIRST_CLOSE, CORRECTED_CLOSE]))
@settings(max_examples=60, deadline=None)
def test_closes_of_several_periods_count_once_per_period_in_any_order(facts):
    records, book, _ = run(list(facts))
    real = book.all_time.real
    assert (real.closed, real.pnl_sum, real.cost_sum, real.wins, real.losses) == (2, D(7), D(200), 1, 1)
    listed = effective_closes(records["BTCUSDT"])  # what the CLI lists
    assert [c.event_id for c in listed] == [CORRECTED_CLOSE.closed.event_id, OTHER_PERIOD.closed.event_id]
    assert set(book.months) == {"2024-03", "2024-04"}
