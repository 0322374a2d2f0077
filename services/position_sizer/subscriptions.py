from __future__ import annotations

from binance_tool.bus.api import Binding, Subscription
from binance_tool.events import Edge70Signal


def sizer_signals(prefetch: int = 50, delivery_limit: int = 5) -> Subscription:
    return Subscription(
        queue="position-sizer.signals",
        bindings=(Binding(Edge70Signal.EXCHANGE, "signal.edge70.*.*"),),
        accepts=(Edge70Signal,),
        description="edge70 signals → sizing decision → TAS long / close",
        prefetch=prefetch,
        delivery_limit=delivery_limit,
    )
