"""Backtester: the production edge70 rule, sizing and filter code on historical candles (docs/backtesting.md)."""

from binance_tool.backtest.engine import run_backtest
from binance_tool.backtest.model import (
    BacktestResult,
    BacktestSettings,
    ExitReason,
    SignalAction,
    SignalRecord,
    Trade,
)

__all__ = [
    "BacktestResult",
    "BacktestSettings",
    "ExitReason",
    "SignalAction",
    "SignalRecord",
    "Trade",
    "run_backtest",
]
