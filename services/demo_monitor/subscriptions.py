from __future__ import annotations

from binance_tool.bus.api import Binding, Subscription
from binance_tool.events import (
    CandleClosed,
    Edge70CandleEvaluated,
    Edge70Signal,
    EntrySized,
    PortfolioValued,
    PositionChanged,
    PositionMismatchFound,
    PositionsChecked,
    SendUserMessage,
    TradeResult,
)

DEMO_MONITOR = Subscription(
    queue="demo-monitor.all",
    bindings=(
        Binding(CandleClosed.EXCHANGE, "#"),
        Binding(Edge70Signal.EXCHANGE, "#"),
        Binding(SendUserMessage.EXCHANGE, "#"),
        Binding(TradeResult.EXCHANGE, "#"),
        Binding(PortfolioValued.EXCHANGE, "portfolio.#"),
        Binding(PositionChanged.EXCHANGE, "#"),
    ),
    accepts=(
        CandleClosed,
        Edge70CandleEvaluated,
        Edge70Signal,
        SendUserMessage,
        EntrySized,
        TradeResult,
        PortfolioValued,
        PositionChanged,
        PositionMismatchFound,
        PositionsChecked,
    ),
    description="the local demo's live progress view (everything); deleted one minute after the demo stops",
    prefetch=500,
    extra_arguments={"x-expires": 60_000},
)
