"""edge70: the daily Donchian-channel breakout edge, as pure code (no I/O).

Both the live `edge70-signals` service and the CLI/backtester call these functions; there is no second
implementation.
"""

from binance_tool.edge70.rules import (
    LONG,
    NONE,
    SHORT,
    Edge70Config,
    Evaluation,
    MarketEdge,
    SeriesResult,
    breakout_triggers,
    evaluate_series,
    fold_directions,
)

__all__ = [
    "LONG",
    "NONE",
    "SHORT",
    "Edge70Config",
    "Evaluation",
    "MarketEdge",
    "SeriesResult",
    "breakout_triggers",
    "evaluate_series",
    "fold_directions",
]
