"""The order state machine: execution reports in, one `TrackedOrder` out.  Pure (no I/O).

The tracked order is a *join* of every report seen, so the result does not depend on the order in which reports
arrive, nor on how many times each arrives:

- scalar state (status, cumulative quantities, prices, times) is taken from the most advanced report, ranked by
  `report_rank`: status rank (NEW < PARTIALLY_FILLED < terminal), then cumulative executed quantity, then
  transaction time.  For real exchange data this is the same as "latest transaction time, then cumulative
  quantity"; where the two disagree (bogus or replayed data) status and quantities still never go back.
  A report that ranks at or below what is known therefore changes no scalar field;
- fills are a set keyed by exchange trade id: a TRADE report seen twice counts once, and a late TRADE report still
  contributes its fill even though its status is stale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace
from decimal import Decimal

from binance_tool.exchange.execution import ExecutionReport, OrderStatus, OrderType, Side

ZERO = Decimal(0)

TERMINAL_STATUSES = frozenset(
    {OrderStatus.FILLED, OrderStatus.CANCELED, OrderStatus.EXPIRED, OrderStatus.EXPIRED_IN_MATCH, OrderStatus.REJECTED}
)
_RANK = {OrderStatus.NEW: 0, OrderStatus.PARTIALLY_FILLED: 1, OrderStatus.PENDING_CANCEL: 1}


class ConflictingReport(ValueError):
    """Two reports that cannot both be true: another order's report, or one trade id with two different fills."""


def status_rank(status: OrderStatus) -> int:
    """NEW 0 < PARTIALLY_FILLED (and PENDING_CANCEL) 1 < terminal 2."""
    return 2 if status in TERMINAL_STATUSES else _RANK[status]


@dataclass(frozen=True)
class OrderFill:
    """One execution of an order (a TRADE execution report, or a `myTrades` row)."""

    trade_id: int
    price: Decimal
    quantity: Decimal
    commission: Decimal
    commission_asset: str
    time_ms: int


@dataclass(frozen=True)
class TrackedOrder:
    symbol: str
    order_id: int
    client_order_id: str  # the order's own id (never the id of a cancel request)
    side: Side
    type: OrderType
    status: OrderStatus
    orig_qty: Decimal
    price: Decimal
    stop_price: Decimal
    executed_qty: Decimal
    cumulative_quote_qty: Decimal
    transaction_time_ms: int  # of the report the scalar state comes from
    event_time_ms: int
    rank: tuple[int, Decimal, int, Decimal, int, str]  # `report_rank` of that report
    fills: tuple[OrderFill, ...] = ()  # sorted by trade id, one per trade id

    @property
    def is_terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def is_open(self) -> bool:
        return not self.is_terminal

    @property
    def average_price(self) -> Decimal | None:
        return self.cumulative_quote_qty / self.executed_qty if self.executed_qty else None

    @property
    def filled_qty_from_fills(self) -> Decimal:
        """Sum of the fills seen; below `executed_qty` while some TRADE reports are still missing."""
        return sum((f.quantity for f in self.fills), ZERO)

    @property
    def missing_fills(self) -> bool:
        """True when the exchange says more was executed than the fills we hold (back-fill from `myTrades`)."""
        return self.filled_qty_from_fills < self.executed_qty


def report_rank(report: ExecutionReport) -> tuple[int, Decimal, int, Decimal, int, str]:
    """Total order of an order's reports: (status rank, cumulative qty, transaction time, cumulative quote,
    event time, status name).  The last two only break ties between otherwise equal reports deterministically."""
    return (
        status_rank(report.status),
        report.cumulative_qty,
        report.transaction_time_ms,
        report.cumulative_quote_qty,
        report.event_time_ms,
        report.status.value,
    )


def fill_of(report: ExecutionReport) -> OrderFill | None:
    """The fill a TRADE report carries, None for other reports."""
    if report.execution_type != "TRADE" or report.trade_id < 0 or report.last_qty <= 0:
        return None
    return OrderFill(
        trade_id=report.trade_id,
        price=report.last_price,
        quantity=report.last_qty,
        commission=report.commission,
        commission_asset=report.commission_asset or "",
        time_ms=report.transaction_time_ms,
    )


def _own_client_id(report: ExecutionReport) -> str:
    return report.original_client_order_id or report.client_order_id


def _from_report(report: ExecutionReport, fills: tuple[OrderFill, ...]) -> TrackedOrder:
    return TrackedOrder(
        symbol=report.symbol,
        order_id=report.order_id,
        client_order_id=_own_client_id(report),
        side=report.side,
        type=report.type,
        status=report.status,
        orig_qty=report.orig_qty,
        price=report.price,
        stop_price=report.stop_price,
        executed_qty=report.cumulative_qty,
        cumulative_quote_qty=report.cumulative_quote_qty,
        transaction_time_ms=report.transaction_time_ms,
        event_time_ms=report.event_time_ms,
        rank=report_rank(report),
        fills=fills,
    )


def merge_fill(fills: tuple[OrderFill, ...], fill: OrderFill) -> tuple[OrderFill, ...]:
    """Add a fill to a set keyed by trade id (sorted by trade id); an identical duplicate changes nothing."""
    for known in fills:
        if known.trade_id == fill.trade_id:
            if known != fill:
                raise ConflictingReport(f"trade {fill.trade_id}: two different fills ({known} vs {fill})")
            return fills
    return tuple(sorted((*fills, fill), key=lambda f: f.trade_id))


def apply_report(current: TrackedOrder | None, report: ExecutionReport) -> TrackedOrder:
    """The order after `report`.  Idempotent, commutative: any permutation with duplicates of a set of reports
    folds to the same `TrackedOrder`."""
    fill = fill_of(report)
    if current is None:
        return _from_report(report, () if fill is None else (fill,))
    if (report.symbol, report.order_id) != (current.symbol, current.order_id):
        raise ConflictingReport(
            f"report for {report.symbol}#{report.order_id} applied to {current.symbol}#{current.order_id}"
        )
    fills = current.fills if fill is None else merge_fill(current.fills, fill)
    if report_rank(report) > current.rank:
        return _from_report(report, fills)
    return current if fills is current.fills else replace(current, fills=fills)


def apply_fill(current: TrackedOrder, fill: OrderFill) -> TrackedOrder:
    """Add a fill learnt elsewhere (REST `myTrades` back-fill); the scalar state is left to the reports."""
    fills = merge_fill(current.fills, fill)
    return current if fills is current.fills else replace(current, fills=fills)


def fold_reports(reports: Iterable[ExecutionReport]) -> dict[tuple[str, int], TrackedOrder]:
    """Every order of a stream of reports, keyed by (symbol, order id)."""
    orders: dict[tuple[str, int], TrackedOrder] = {}
    for report in reports:
        key = (report.symbol, report.order_id)
        orders[key] = apply_report(orders.get(key), report)
    return orders
