"""Event and command models (pydantic v2, frozen, strict, versioned) and their routing."""

from binance_tool.edge70.outcome import Edge70Outcome
from binance_tool.events.account import (
    AccountBalancesUpdated,
    BalanceEntry,
    ExecutionReportReceived,
    Holding,
    PortfolioValued,
    PositionChanged,
    edge_of_client_order_id,
)
from binance_tool.events.common import Direction, Market
from binance_tool.events.edge70 import Edge70CandleEvaluated, Edge70Parameters, Edge70Signal
from binance_tool.events.envelope import Envelope, deterministic_id
from binance_tool.events.market import CandleClosed
from binance_tool.events.notifications import SendUserMessage, Severity
from binance_tool.events.registry import ALL_TYPES, REGISTRY, MalformedMessage, decode
from binance_tool.events.trading import EntrySized, OrderSummary, TradeResult

__all__ = [
    "ALL_TYPES",
    "REGISTRY",
    "AccountBalancesUpdated",
    "BalanceEntry",
    "CandleClosed",
    "Direction",
    "Edge70CandleEvaluated",
    "Edge70Outcome",
    "Edge70Parameters",
    "Edge70Signal",
    "EntrySized",
    "Envelope",
    "ExecutionReportReceived",
    "Holding",
    "MalformedMessage",
    "Market",
    "OrderSummary",
    "PortfolioValued",
    "PositionChanged",
    "SendUserMessage",
    "Severity",
    "TradeResult",
    "decode",
    "deterministic_id",
    "edge_of_client_order_id",
]

from binance_tool.events.performance import (
    ClosedPositionSummary,
    EdgePerformanceUpdated,
    EdgeTotals,
    PositionPerformance,
    PositionsPerformanceReported,
    RealTotals,
    ResultTotals,
    SignalTradeSummary,
)
from binance_tool.events.reconciliation import PositionMismatchFound, PositionsChecked

__all__ += ["PositionMismatchFound", "PositionsChecked"]

__all__ += [
    "ClosedPositionSummary",
    "EdgePerformanceUpdated",
    "EdgeTotals",
    "PositionPerformance",
    "PositionsPerformanceReported",
    "RealTotals",
    "ResultTotals",
    "SignalTradeSummary",
]
