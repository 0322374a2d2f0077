"""Events of the performance service: the regular report on open positions, and per-edge realised results.

- `PositionsPerformanceReported`: every open position at a report time, valued at the exchange's last price
  (positions without a price are listed with `price` None, never dropped).  Id: (account, report time).
- `EdgePerformanceUpdated`: the totals of one edge after a fact (signal, sizing decision, position change)
  changed them.  Id: (edge, the cause's event id), so a redelivered cause republishes the same id.

Totals keep counts and sums (Decimal, exact); an average is `return_pct_sum / returns` (see `ResultTotals`).
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from binance_tool.events.envelope import Envelope, deterministic_id

_ZERO = Decimal(0)


class _Value(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")


class ResultTotals(_Value):
    """Closed trades of one kind: `wins` (return > 0), `losses` (< 0); a zero result is neither.  `returns` counts
    the trades whose return % is known (a position with no recorded cost has none)."""

    closed: int = Field(default=0, ge=0)
    wins: int = Field(default=0, ge=0)
    losses: int = Field(default=0, ge=0)
    returns: int = Field(default=0, ge=0)
    return_pct_sum: Decimal = _ZERO

    @property
    def average_return_pct(self) -> Decimal | None:
        return self.return_pct_sum / self.returns if self.returns else None


class RealTotals(ResultTotals):
    """Positions of the edge closed on the account: realised P&L (quote, net of fees), buy cost, days held."""

    pnl_sum: Decimal = _ZERO
    cost_sum: Decimal = _ZERO
    days_sum: Decimal = _ZERO


class EdgeTotals(_Value):
    """One edge's results over a period: real closed positions and closed *signal trades* (paper trades from
    the long signal's price to the next short signal's price), split by whether they were entered."""

    real: RealTotals = RealTotals()
    signals: ResultTotals = ResultTotals()
    entered: ResultTotals = ResultTotals()
    not_entered: ResultTotals = ResultTotals()
    refusals: dict[str, int] = Field(default_factory=dict)  # why not entered → closed signal trades


class SignalTradeSummary(_Value):
    edge: str
    symbol: str
    entry_signal_id: uuid.UUID
    entry_price: Decimal
    entry_ms: int = Field(ge=0)
    exit_price: Decimal | None
    exit_ms: int | None
    return_pct: Decimal | None
    entered: bool
    not_entered_reason: str | None  # None when entered (or still undecided while open)


class ClosedPositionSummary(_Value):
    edge: str
    symbol: str
    base_asset: str
    position_event_id: uuid.UUID
    realised_pnl: Decimal
    cost: Decimal
    return_pct: Decimal | None
    opened_at_ms: int | None
    closed_at_ms: int = Field(ge=0)
    days_held: Decimal | None


class EdgePerformanceUpdated(Envelope):
    """An edge's totals changed (performance service): all-time and for the UTC month of the fact's close."""

    EXCHANGE: ClassVar[str] = "bt.performance"
    ROUTING_KEY: ClassVar[str] = "edge-performance.{edge}"
    DESCRIPTION: ClassVar[str] = "An edge's realised results changed: real and signal trades, totals (performance)."

    object_type: Literal["EdgePerformanceUpdated"] = "EdgePerformanceUpdated"
    version: Literal[1] = 1
    edge: str
    symbol: str
    cause_type: str
    cause_event_id: uuid.UUID
    all_time: EdgeTotals
    month: str | None  # "YYYY-MM" of what closed, None when nothing closed
    month_totals: EdgeTotals | None
    closed_signal_trade: SignalTradeSummary | None = None
    closed_position: ClosedPositionSummary | None = None

    @staticmethod
    def id_for(edge: str, cause_event_id: uuid.UUID) -> uuid.UUID:
        return deterministic_id("EdgePerformanceUpdated", edge, cause_event_id)


class PositionPerformance(_Value):
    symbol: str
    base_asset: str
    edge: str | None
    quantity: Decimal
    average_entry_price: Decimal | None
    cost_basis: Decimal
    price: Decimal | None  # None: the exchange gave no price (unpriced)
    value: Decimal | None
    unrealised_pnl: Decimal | None
    unrealised_pct: Decimal | None
    opened_at_ms: int | None
    days_held: Decimal | None


class PositionsPerformanceReported(Envelope):
    """The open positions of an account valued at the exchange's last prices (performance service)."""

    EXCHANGE: ClassVar[str] = "bt.performance"
    ROUTING_KEY: ClassVar[str] = "positions-performance.{account}"
    DESCRIPTION: ClassVar[str] = "Open positions with price, value, unrealised P&L and days held (performance)."

    object_type: Literal["PositionsPerformanceReported"] = "PositionsPerformanceReported"
    version: Literal[1] = 1
    account: str = "default"
    positions: tuple[PositionPerformance, ...]
    unpriced: tuple[str, ...]  # symbols with no price
    total_value: Decimal  # of the priced positions
    total_unrealised_pnl: Decimal

    @staticmethod
    def id_for(account: str, report_ms: int) -> uuid.UUID:
        return deterministic_id("PositionsPerformanceReported", account, report_ms)
