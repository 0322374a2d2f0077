from __future__ import annotations

from binance_tool.bus.api import Binding, Subscription
from binance_tool.events import CandleClosed


def edge70_candles(interval: str = "1d", prefetch: int = 50, delivery_limit: int = 5) -> Subscription:
    return Subscription(
        queue="edge70-signals.candles",
        bindings=(Binding(CandleClosed.EXCHANGE, f"candle.closed.{interval}.*"),),
        accepts=(CandleClosed,),
        description="closed daily candles → edge70 evaluation (one evaluation per market and open time)",
        prefetch=prefetch,
        delivery_limit=delivery_limit,
    )
