"""performance: the edge-performance consumer and the position-performance reporter (thin: map, store, publish).

Events → facts: `Edge70Signal` (test signals ignored) → SignalSeen; `EntrySized` → SizingSeen (by the signal's
event id); `PositionChanged` of the account and of an edge → PositionOpened (opened) / PositionClosed (closed).

After a fact is stored: `EdgePerformanceUpdated` when the totals moved — or when the fact was already known,
which is what a redelivery after a crash between the write and the publish looks like — and a user message when
the fact closed a signal trade or a position.  Both ids are functions of the cause's id (downstream dedup).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import structlog

from binance_tool.bus.api import Delivery, Publisher
from binance_tool.clock import Clock
from binance_tool.events import Edge70Signal, EntrySized, Envelope, PositionChanged, SendUserMessage, deterministic_id
from binance_tool.events.performance import (
    EdgePerformanceUpdated,
    EdgeTotals,
    PositionsPerformanceReported,
    ResultTotals,
)
from binance_tool.exchange.execution import AccountData
from binance_tool.exchange.execution_support import ExchangeRequestError
from binance_tool.tracking.positions import Position
from services.performance.edge_results import (
    Applied,
    ClosedPositionFact,
    Fact,
    MarketRef,
    PositionClosed,
    PositionOpened,
    SignalFact,
    SignalSeen,
    SizingFact,
    SizingSeen,
)
from services.performance.position_report import position_rows, report_text
from services.performance.store import PerformanceStore

SERVICE = "performance"
ZERO = Decimal(0)
INVALID_SYMBOL = -1121  # Binance's code for a symbol it does not know


def fact_of(event: Envelope, account: str) -> Fact | None:
    """The fact an event brings, or None when it is not for us (test signal, other account, manual position)."""
    if isinstance(event, Edge70Signal):
        if event.test_signal:
            return None
        m = event.market
        signal = SignalFact(event_id=str(event.event_id), direction=event.direction.value, price=event.signal_price,
                            ts_ms=event.signal_timestamp_ms)  # fmt: skip
        return SignalSeen(MarketRef(event.edge, m.symbol, m.base_asset), signal)
    if isinstance(event, EntrySized):
        m = event.market
        sizing = SizingFact(accepted=event.accepted, refusal=event.refusal, reason=event.reason)
        return SizingSeen(MarketRef(event.edge, m.symbol, m.base_asset), str(event.signal_event_id), sizing)
    if isinstance(event, PositionChanged):
        if event.account != account or event.edge is None:
            return None
        ref = MarketRef(event.edge, event.symbol, event.base_asset)
        if event.change == "opened" and event.opened_at_ms is not None:
            return PositionOpened(ref, str(event.event_id), event.opened_at_ms)
        if event.change == "closed":
            closed = ClosedPositionFact(
                event_id=str(event.event_id),
                realised_pnl=event.period_realised_pnl,
                cost=event.period_cost,
                opened_at_ms=event.opened_at_ms,
                closed_at_ms=event.closed_at_ms if event.closed_at_ms is not None else event.ts_event_ms,
                cause_ms=event.ts_event_ms,
                cause_trade_id=event.cause_trade_id,
                fills_known=event.fills_known,
            )
            return PositionClosed(ref, closed)
    return None


class EdgePerformanceService:
    def __init__(self, publisher: Publisher, store: PerformanceStore, clock: Clock, account: str = "default") -> None:
        self.publisher = publisher
        self.store = store
        self.clock = clock
        self.account = account
        self.log = structlog.get_logger().bind(service=SERVICE)

    async def on_event(self, event: Envelope, delivery: Delivery | None = None) -> None:
        fact = fact_of(event, self.account)
        if fact is None:
            return
        applied = await self.store.apply(fact)
        if applied.known:
            self.log.info("performance_fact_known", event_id=str(event.event_id), object_type=event.object_type)
        if applied.totals_changed or applied.known:
            await self.publisher.publish(self._updated(event, fact, applied))
        text = closed_text(applied)
        if text is not None:
            await self.publisher.publish(
                SendUserMessage(
                    event_id=deterministic_id("EdgePerformanceMessage", fact.market.edge, event.event_id),
                    correlation_id=event.correlation_id,
                    ts_event_ms=event.ts_event_ms,
                    ts_init_ms=self.clock.now_ms(),
                    service=SERVICE,
                    kind="edge-performance",
                    text=text,
                    tags={"edge": fact.market.edge, "symbol": fact.market.symbol},
                )
            )

    def _updated(self, event: Envelope, fact: Fact, applied: Applied) -> EdgePerformanceUpdated:
        book = applied.book
        return EdgePerformanceUpdated(
            event_id=EdgePerformanceUpdated.id_for(fact.market.edge, event.event_id),
            correlation_id=event.correlation_id,
            ts_event_ms=event.ts_event_ms,
            ts_init_ms=self.clock.now_ms(),
            edge=fact.market.edge,
            symbol=fact.market.symbol,
            cause_type=event.object_type,
            cause_event_id=event.event_id,
            all_time=book.all_time,
            month=applied.month,
            month_totals=book.months.get(applied.month, EdgeTotals()) if applied.month else None,
            closed_signal_trade=applied.closed_trade,
            closed_position=applied.closed_position,
        )


def _avg(r: ResultTotals) -> str:
    avg = r.average_return_pct
    return "—" if avg is None else f"{avg.quantize(Decimal('0.01')):+}%"


def totals_line(t: EdgeTotals) -> str:
    return (
        f"real: {t.real.closed} closed, {t.real.wins} won / {t.real.losses} lost, "
        f"P&L {t.real.pnl_sum.quantize(Decimal('0.01')):+}, avg {_avg(t.real)}; "
        f"signal trades: {t.signals.closed}, avg {_avg(t.signals)} "
        f"(entered {t.entered.closed} avg {_avg(t.entered)}, not entered {t.not_entered.closed} "
        f"avg {_avg(t.not_entered)})"
    )


def closed_text(applied: Applied) -> str | None:
    """The user message when the fact closed something, else None."""
    edge = applied.record.edge
    if applied.closed_position is not None:
        p = applied.closed_position
        ret = f" ({p.return_pct.quantize(Decimal('0.01')):+}%)" if p.return_pct is not None else ""
        days = f", held {p.days_held} days" if p.days_held is not None else ""
        head = f"{edge} {p.symbol}: position closed, P&L {p.realised_pnl.quantize(Decimal('0.01')):+}{ret}{days}."
        if applied.corrected is not None:
            was = applied.corrected.realised_pnl.quantize(Decimal("0.01"))
            head += f" Corrected (late fill): replaces the close of this holding period reported with P&L {was:+}."
    elif applied.closed_trade is not None:
        t = applied.closed_trade
        ret = f"{t.return_pct.quantize(Decimal('0.01')):+}%" if t.return_pct is not None else "?"
        status = "entered" if t.entered else f"not entered: {t.not_entered_reason}"
        head = f"{edge} {t.symbol}: signal trade closed {ret} ({t.entry_price} → {t.exit_price}; {status})."
    else:
        return None
    return f"{head}\n{edge} all time — {totals_line(applied.book.all_time)}"


# --- position performance ----------------------------------------------------------------------------------------


class PositionsSource(Protocol):
    async def open_positions(self) -> list[Position]: ...


class PositionPerformanceReporter:
    def __init__(
        self,
        publisher: Publisher,
        positions: PositionsSource,
        exchange: AccountData,
        clock: Clock,
        account: str = "default",
    ) -> None:
        self.publisher = publisher
        self.positions = positions
        self.exchange = exchange
        self.clock = clock
        self.account = account
        self.log = structlog.get_logger().bind(service=SERVICE, account=account)

    async def report(self) -> PositionsPerformanceReported:
        positions = await self.positions.open_positions()
        prices = await self._prices(sorted({p.symbol for p in positions}))
        now = self.clock.now_ms()
        rows = position_rows(positions, prices, now)
        unpriced = tuple(sorted({r.symbol for r in rows if r.price is None}))
        if unpriced:
            self.log.warning("positions_unpriced", symbols=list(unpriced))
        event = PositionsPerformanceReported(
            event_id=PositionsPerformanceReported.id_for(self.account, now),
            correlation_id=uuid.uuid4(),
            ts_event_ms=now,
            ts_init_ms=now,
            account=self.account,
            positions=tuple(rows),
            unpriced=unpriced,
            total_value=sum((r.value for r in rows if r.value is not None), ZERO),
            total_unrealised_pnl=sum((r.unrealised_pnl for r in rows if r.unrealised_pnl is not None), ZERO),
        )
        await self.publisher.publish(event)
        if rows:
            quote = positions[0].quote_asset if len({p.quote_asset for p in positions}) == 1 else "quote"
            await self.publisher.publish(
                SendUserMessage(
                    event_id=deterministic_id("PositionsPerformanceMessage", event.event_id),
                    correlation_id=event.correlation_id,
                    ts_event_ms=now,
                    ts_init_ms=now,
                    service=SERVICE,
                    kind="position-performance",
                    text=report_text(rows, quote)[:4000],
                    tags={"account": self.account},
                )
            )
        return event

    async def _prices(self, symbols: Sequence[str]) -> dict[str, Decimal]:
        """Last prices; a symbol the exchange does not know (-1121 invalid symbol) is simply missing.  One unknown
        symbol fails the batch on Binance, so only that error is followed by one request per symbol; any other
        error (rate limit 429/418, timeout, ...) propagates: the report is skipped until the next one, without
        multiplying requests against a limited exchange."""
        if not symbols:
            return {}
        try:
            return dict(await self.exchange.prices(symbols))
        except ExchangeRequestError as exc:
            if exc.code != INVALID_SYMBOL:
                raise
            self.log.warning("prices_batch_invalid_symbol", error=repr(exc))
        out: dict[str, Decimal] = {}
        for s in symbols:
            try:
                out.update({k: v for k, v in (await self.exchange.prices([s])).items() if k == s})
            except ExchangeRequestError as exc:
                if exc.code != INVALID_SYMBOL:
                    raise
                self.log.warning("price_missing", symbol=s, error=repr(exc))
        return out
