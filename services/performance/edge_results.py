"""Edge performance, pure (no I/O): signal trades and per-edge totals from the facts seen for one market.

A market's record (`MarketRecord`, one per edge and symbol) is the SET of facts seen — signals by event id,
sizing decisions by signal id, position openings and closes by event id — so a duplicate changes nothing and the
order of arrival does not matter: everything else is derived.

- Signal trades: the signals sorted by (time, id) are folded: a long signal while flat opens a paper trade at its
  `signal_price`; a long while one is open is ignored; the next short closes it at its price; a short while flat
  is ignored.  Return % = (exit / entry − 1) × 100 (no fees: the backtest's paper trade).
- Entered: the sizer accepted the entry signal AND a position of the edge on the base asset opened between the
  entry signal and the exit signal; else the reason: the sizer's refusal, "not sized", or "accepted, not filled".
- Closed positions: one per holding period (edge, base asset, `opened_at_ms`).  The position-tracker publishes a
  second `closed` event for a period when a late fill (a REST back-fill) reopened it and a later fill closed it
  again, with the period's full P&L: the close caused by the later fill replaces the earlier one
  (`effective_closes`), whatever the order in which the two arrive.
- Totals (`EdgeBook`): each closed signal trade and closed position is a *contribution* bucketed by the UTC month
  of its close.  An update subtracts the market's old contributions and adds the new ones, so the totals always
  equal the sum over the records; values are quantized first (return % to 4 decimals, quote
  amounts to 8, days to 2) so the Decimal sums are exact.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from binance_tool.events.performance import (
    ClosedPositionSummary,
    EdgeTotals,
    ResultTotals,
    SignalTradeSummary,
)

ZERO = Decimal(0)
PCT = Decimal("0.0001")  # return % kept to 4 decimals
DAYS = Decimal("0.01")
QUOTE = Decimal("0.00000001")  # P&L and cost summed to 8 decimals (exact sums)
DAY_MS = 86_400_000
NOT_SIZED = "not sized"
NOT_FILLED = "accepted, not filled"
PENDING = "pending"


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class SignalFact(_Value):
    event_id: str
    direction: Literal["long", "short"]
    price: Decimal = Field(gt=0)
    ts_ms: int = Field(ge=0)


class SizingFact(_Value):
    accepted: bool
    refusal: str | None
    reason: str


class ClosedPositionFact(_Value):
    event_id: str
    realised_pnl: Decimal
    cost: Decimal
    opened_at_ms: int | None
    closed_at_ms: int = Field(ge=0)
    # the fill that caused the event (PositionChanged ts_event_ms, cause_trade_id): of two closes of one holding
    # period (same opened_at_ms), the one caused by the later fill is the corrected one (0: recorded before this)
    cause_ms: int = Field(default=0, ge=0)
    cause_trade_id: int = 0
    # how many fills the tracker's figures were based on (PositionChanged.fills_known): more fills = more knowledge,
    # so a late fill's corrected close wins even though its fill is older (0: recorded before this field)
    fills_known: int = Field(default=0, ge=0)

    @property
    def version(self) -> tuple[int, int, int, int, str]:
        return (self.fills_known, self.cause_ms, self.cause_trade_id, self.closed_at_ms, self.event_id)


class MarketRecord(_Value):
    """Every fact seen for one (edge, symbol)."""

    edge: str
    symbol: str
    base_asset: str
    signals: dict[str, SignalFact] = Field(default_factory=dict)  # by signal event id
    sizings: dict[str, SizingFact] = Field(default_factory=dict)  # by the signal's event id
    openings: dict[str, int] = Field(default_factory=dict)  # position event id → opened_at_ms
    closed_positions: dict[str, ClosedPositionFact] = Field(default_factory=dict)  # by PositionChanged id


class EdgeBook(_Value):
    """One edge's totals: all time and per UTC month ("YYYY-MM")."""

    edge: str
    all_time: EdgeTotals = EdgeTotals()
    months: dict[str, EdgeTotals] = Field(default_factory=dict)


# --- facts ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MarketRef:
    edge: str
    symbol: str
    base_asset: str


@dataclass(frozen=True)
class SignalSeen:
    market: MarketRef
    signal: SignalFact


@dataclass(frozen=True)
class SizingSeen:
    market: MarketRef
    signal_event_id: str
    sizing: SizingFact


@dataclass(frozen=True)
class PositionOpened:
    market: MarketRef
    event_id: str
    opened_at_ms: int


@dataclass(frozen=True)
class PositionClosed:
    market: MarketRef
    closed: ClosedPositionFact


Fact = SignalSeen | SizingSeen | PositionOpened | PositionClosed


def with_fact(record: MarketRecord, fact: Fact) -> MarketRecord:
    """The record with the fact added (the same object when it was already known: first content wins)."""
    if isinstance(fact, SignalSeen):
        if fact.signal.event_id in record.signals:
            return record
        return record.model_copy(update={"signals": {**record.signals, fact.signal.event_id: fact.signal}})
    if isinstance(fact, SizingSeen):
        if fact.signal_event_id in record.sizings:
            return record
        return record.model_copy(update={"sizings": {**record.sizings, fact.signal_event_id: fact.sizing}})
    if isinstance(fact, PositionOpened):
        if fact.event_id in record.openings:
            return record
        return record.model_copy(update={"openings": {**record.openings, fact.event_id: fact.opened_at_ms}})
    closed = fact.closed
    if closed.event_id in record.closed_positions:
        return record
    update: dict[str, object] = {"closed_positions": {**record.closed_positions, closed.event_id: closed}}
    if closed.opened_at_ms is not None:  # the close tells when it opened, even if the "opened" event is missed
        update["openings"] = {**record.openings, f"{closed.event_id}:opened": closed.opened_at_ms}
    return record.model_copy(update=update)


def effective_closes(record: MarketRecord) -> list[ClosedPositionFact]:
    """The closes that count, by close time: one per holding period (edge, base, opened_at_ms) — the latest
    version, caused by the latest fill — so a corrected close of a period replaces the earlier one whatever the
    order of arrival; a close without opened_at_ms stands alone."""
    latest: dict[object, ClosedPositionFact] = {}
    for c in record.closed_positions.values():
        period: object = c.opened_at_ms if c.opened_at_ms is not None else ("event", c.event_id)
        known = latest.get(period)
        if known is None or c.version > known.version:
            latest[period] = c
    return sorted(latest.values(), key=lambda c: (c.closed_at_ms, c.event_id))


def superseded(record: MarketRecord, closed: ClosedPositionFact) -> ClosedPositionFact | None:
    """The earlier close of the same period that `closed` corrects (None: the first close of its period)."""
    if closed.opened_at_ms is None:
        return None
    earlier = [
        c
        for c in record.closed_positions.values()
        if c.opened_at_ms == closed.opened_at_ms and c.version < closed.version
    ]
    return max(earlier, key=lambda c: c.version) if earlier else None


# --- signal trades -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SignalTrade:
    entry: SignalFact
    exit: SignalFact | None
    entered: bool
    not_entered_reason: str | None

    @property
    def return_pct(self) -> Decimal | None:
        if self.exit is None:
            return None
        return ((self.exit.price / self.entry.price - 1) * 100).quantize(PCT)


def signal_trades(record: MarketRecord) -> list[SignalTrade]:
    """The market's paper trades, oldest first (the last one may still be open)."""
    pairs: list[tuple[SignalFact, SignalFact | None]] = []
    open_: SignalFact | None = None
    for s in sorted(record.signals.values(), key=lambda s: (s.ts_ms, s.event_id)):
        if s.direction == "long":
            if open_ is None:
                open_ = s
        elif open_ is not None:
            pairs.append((open_, s))
            open_ = None
    if open_ is not None:
        pairs.append((open_, None))
    return [SignalTrade(entry, exit_, *_entry_status(record, entry, exit_)) for entry, exit_ in pairs]


def _entry_status(record: MarketRecord, entry: SignalFact, exit_: SignalFact | None) -> tuple[bool, str | None]:
    sizing = record.sizings.get(entry.event_id)
    if sizing is None:
        return False, NOT_SIZED
    if not sizing.accepted:
        return False, sizing.refusal or sizing.reason or "refused"
    if any(entry.ts_ms <= t and (exit_ is None or t <= exit_.ts_ms) for t in record.openings.values()):
        return True, None
    return False, NOT_FILLED if exit_ is not None else PENDING


def trade_summary(record: MarketRecord, trade: SignalTrade) -> SignalTradeSummary:
    return SignalTradeSummary(
        edge=record.edge,
        symbol=record.symbol,
        entry_signal_id=uuid.UUID(trade.entry.event_id),
        entry_price=trade.entry.price,
        entry_ms=trade.entry.ts_ms,
        exit_price=trade.exit.price if trade.exit else None,
        exit_ms=trade.exit.ts_ms if trade.exit else None,
        return_pct=trade.return_pct,
        entered=trade.entered,
        not_entered_reason=trade.not_entered_reason,
    )


# --- real closed positions -----------------------------------------------------------------------------------


def position_return_pct(closed: ClosedPositionFact) -> Decimal | None:
    return (closed.realised_pnl / closed.cost * 100).quantize(PCT) if closed.cost > 0 else None


def days_between(start_ms: int | None, end_ms: int) -> Decimal | None:
    return None if start_ms is None else (Decimal(end_ms - start_ms) / DAY_MS).quantize(DAYS)


def position_summary(record: MarketRecord, closed: ClosedPositionFact) -> ClosedPositionSummary:
    return ClosedPositionSummary(
        edge=record.edge,
        symbol=record.symbol,
        base_asset=record.base_asset,
        position_event_id=uuid.UUID(closed.event_id),
        realised_pnl=closed.realised_pnl,
        cost=closed.cost,
        return_pct=position_return_pct(closed),
        opened_at_ms=closed.opened_at_ms,
        closed_at_ms=closed.closed_at_ms,
        days_held=days_between(closed.opened_at_ms, closed.closed_at_ms),
    )


# --- totals ----------------------------------------------------------------------------------------------------


def month_of(ts_ms: int) -> str:
    return datetime.fromtimestamp(ts_ms / 1000, tz=UTC).strftime("%Y-%m")


@dataclass(frozen=True)
class Contribution:
    month: str
    kind: Literal["signal", "real"]
    return_pct: Decimal | None
    entered: bool = False
    reason: str | None = None
    pnl: Decimal = ZERO
    cost: Decimal = ZERO
    days: Decimal = ZERO


def contributions(record: MarketRecord) -> list[Contribution]:
    out = [
        Contribution(month_of(t.exit.ts_ms), "signal", t.return_pct, t.entered, t.not_entered_reason)
        for t in signal_trades(record)
        if t.exit is not None
    ]
    for c in effective_closes(record):
        days = days_between(c.opened_at_ms, c.closed_at_ms) or ZERO
        month = month_of(c.closed_at_ms)
        pnl, cost = c.realised_pnl.quantize(QUOTE), c.cost.quantize(QUOTE)
        out.append(Contribution(month, "real", position_return_pct(c), pnl=pnl, cost=cost, days=days))
    return out


def _bump(r: ResultTotals, result: Decimal | None, return_pct: Decimal | None, sign: int) -> dict[str, object]:
    return {
        "closed": r.closed + sign,
        "wins": r.wins + (sign if result is not None and result > 0 else 0),
        "losses": r.losses + (sign if result is not None and result < 0 else 0),
        "returns": r.returns + (sign if return_pct is not None else 0),
        "return_pct_sum": r.return_pct_sum + sign * (return_pct or ZERO),
    }


def add_contribution(t: EdgeTotals, c: Contribution, sign: int) -> EdgeTotals:
    if c.kind == "real":
        real = t.real
        update = _bump(real, c.pnl, c.return_pct, sign) | {
            "pnl_sum": real.pnl_sum + sign * c.pnl,
            "cost_sum": real.cost_sum + sign * c.cost,
            "days_sum": real.days_sum + sign * c.days,
        }
        return t.model_copy(update={"real": real.model_copy(update=update)})
    signals = t.signals.model_copy(update=_bump(t.signals, c.return_pct, c.return_pct, sign))
    update_t: dict[str, object] = {"signals": signals}
    side = "entered" if c.entered else "not_entered"
    current: ResultTotals = getattr(t, side)
    update_t[side] = current.model_copy(update=_bump(current, c.return_pct, c.return_pct, sign))
    if not c.entered:
        reason = c.reason or NOT_SIZED
        refusals = dict(t.refusals)
        refusals[reason] = refusals.get(reason, 0) + sign
        update_t["refusals"] = {k: v for k, v in sorted(refusals.items()) if v}
    return t.model_copy(update=update_t)


def _is_empty(t: EdgeTotals) -> bool:
    return t.real.closed == 0 and t.signals.closed == 0


def rebook(book: EdgeBook, old: MarketRecord, new: MarketRecord) -> EdgeBook:
    """The book with `old`'s contributions replaced by `new`'s (unchanged contributions cancel out)."""
    before, after = contributions(old), contributions(new)
    if before == after:
        return book
    all_time, months = book.all_time, dict(book.months)
    for sign, items in ((-1, before), (1, after)):
        for c in items:
            all_time = add_contribution(all_time, c, sign)
            months[c.month] = add_contribution(months.get(c.month, EdgeTotals()), c, sign)
    months = {m: t for m, t in sorted(months.items()) if not _is_empty(t)}
    return book.model_copy(update={"all_time": all_time, "months": months})


# --- one fact, applied -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Applied:
    """What applying a fact gave: the new record and book, whether the fact was already known, whether the
    totals moved, and what the fact closed (for the user message)."""

    record: MarketRecord
    book: EdgeBook
    known: bool
    totals_changed: bool
    closed_trade: SignalTradeSummary | None = None
    closed_position: ClosedPositionSummary | None = None
    month: str | None = None
    corrected: ClosedPositionSummary | None = None  # the earlier close of the same period `closed_position` replaces


def apply_fact(record: MarketRecord, book: EdgeBook, fact: Fact) -> Applied:
    new = with_fact(record, fact)
    known = new is record
    new_book = book if known else rebook(book, record, new)
    closed_trade: SignalTradeSummary | None = None
    closed_position: ClosedPositionSummary | None = None
    month: str | None = None
    if isinstance(fact, SignalSeen) and fact.signal.direction == "short":
        for t in signal_trades(new):
            if t.exit is not None and t.exit.event_id == fact.signal.event_id:
                closed_trade, month = trade_summary(new, t), month_of(t.exit.ts_ms)
    elif isinstance(fact, PositionClosed):
        closed = new.closed_positions[fact.closed.event_id]
        corrected: ClosedPositionSummary | None = None
        if closed in effective_closes(new):  # an older version of a corrected close closes nothing
            closed_position = position_summary(new, closed)
            month = month_of(fact.closed.closed_at_ms)
            earlier = superseded(new, closed)
            corrected = position_summary(new, earlier) if earlier is not None else None
        return Applied(new, new_book, known, new_book != book, None, closed_position, month, corrected)
    return Applied(new, new_book, known, new_book != book, closed_trade, closed_position, month)


def empty_record(market: MarketRef) -> MarketRecord:
    return MarketRecord(edge=market.edge, symbol=market.symbol, base_asset=market.base_asset)
