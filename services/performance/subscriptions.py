from __future__ import annotations

from binance_tool.bus.api import Binding, Subscription
from binance_tool.events import Edge70Signal, EntrySized, PositionChanged


def performance_edge_events(prefetch: int = 50, delivery_limit: int = 5) -> Subscription:
    """One queue for every fact of edge performance, so a market's facts arrive in publishing order as far as
    the broker keeps it (the results do not depend on it)."""
    return Subscription(
        queue="performance.edge-events",
        bindings=(
            Binding(Edge70Signal.EXCHANGE, "signal.#"),
            Binding(EntrySized.EXCHANGE, "sizing.#"),
            Binding(PositionChanged.EXCHANGE, "position.opened.#"),
            Binding(PositionChanged.EXCHANGE, "position.closed.#"),
        ),
        accepts=(Edge70Signal, EntrySized, PositionChanged),
        description="signals, sizing decisions, positions opened/closed → per-edge results (edge-performance)",
        prefetch=prefetch,
        delivery_limit=delivery_limit,
    )
