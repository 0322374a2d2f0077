"""Pure tracking domain (no I/O): the order state machine, positions from fills, portfolio value.

Called by the order-tracker, position-tracker and portfolio-tracker services (issue 5) and usable by the backtester.
"""

from binance_tool.tracking.orders import (
    TERMINAL_STATUSES,
    ConflictingReport,
    OrderFill,
    TrackedOrder,
    apply_report,
    fill_of,
    fold_reports,
    report_rank,
    status_rank,
)
from binance_tool.tracking.orders import apply_fill as apply_order_fill
from binance_tool.tracking.portfolio import (
    HeldBalance,
    PortfolioValue,
    UsdRate,
    apply_balances,
    portfolio_value,
    price_in,
    usd_rate,
)
from binance_tool.tracking.positions import (
    FillConflict,
    Position,
    PositionFill,
    PositionKey,
    PositionState,
    apply_fill,
    empty_position,
    fill_from_trade,
    fills_of_order,
    fold_fill,
    follows,
    is_dust,
    new_position_state,
    position_from_fills,
    unrealised_pnl,
)

__all__ = [
    "TERMINAL_STATUSES",
    "ConflictingReport",
    "FillConflict",
    "HeldBalance",
    "OrderFill",
    "PortfolioValue",
    "Position",
    "PositionFill",
    "PositionKey",
    "PositionState",
    "TrackedOrder",
    "UsdRate",
    "apply_balances",
    "apply_fill",
    "apply_order_fill",
    "apply_report",
    "empty_position",
    "fill_from_trade",
    "fill_of",
    "fills_of_order",
    "fold_fill",
    "fold_reports",
    "follows",
    "is_dust",
    "new_position_state",
    "portfolio_value",
    "position_from_fills",
    "price_in",
    "report_rank",
    "status_rank",
    "unrealised_pnl",
    "usd_rate",
]

# positions vs the exchange (the position checker)
from binance_tool.tracking.reconcile import Mismatch, MismatchKind, ReconcileSettings, reconcile

__all__ += ["Mismatch", "MismatchKind", "ReconcileSettings", "reconcile"]
