"""Pure trading rules (no I/O): exchange filters, sizing and risk, entry/stop semantics, fees.

Shared by the live position sizer / executors and the backtester, so both trade with the same code.
"""

from binance_tool.trading.execution import EXECUTION_SETTINGS, EntryOrderType, ExecutionSettings, fee
from binance_tool.trading.filters import (
    UNFILTERED,
    FilterError,
    OrderKind,
    SymbolFilters,
    derived_filter_values,
    filters_from_exchange_info,
)
from binance_tool.trading.sizing import (
    Constraint,
    Exposure,
    PortfolioState,
    Refusal,
    RiskBasis,
    SizingDecision,
    SizingRules,
    TradingMode,
    size_entry,
)

__all__ = [
    "EXECUTION_SETTINGS",
    "UNFILTERED",
    "Constraint",
    "EntryOrderType",
    "ExecutionSettings",
    "Exposure",
    "FilterError",
    "OrderKind",
    "PortfolioState",
    "Refusal",
    "RiskBasis",
    "SizingDecision",
    "SizingRules",
    "SymbolFilters",
    "TradingMode",
    "derived_filter_values",
    "fee",
    "filters_from_exchange_info",
    "size_entry",
]
