from __future__ import annotations

from binance_tool.bus.api import Binding, Subscription
from binance_tool.events import Edge70Signal, EntrySized, PositionChanged

DEFAULT_QUEUE = "performance.edge-events"


def performance_edge_events(
    prefetch: int = 50, delivery_limit: int = 5, *, queue: str = DEFAULT_QUEUE, expires_ms: int = 0
) -> Subscription:
    """One queue for every fact of edge performance, so a market's facts arrive in publishing order as far as
    the broker keeps it (the results do not depend on it).  `queue` / `expires_ms` (PERFORMANCE_QUEUE,
    PERFORMANCE_QUEUE_EXPIRES_MS): another queue name is another consumer of the same events (a test's, a trial
    run's); `expires_ms` > 0 lets the broker delete the queue once unused that long."""
    if expires_ms < 0:
        raise ValueError(f"expires_ms must be >= 0, got {expires_ms}")
    return Subscription(
        queue=queue,
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
        extra_arguments={"x-expires": expires_ms} if expires_ms else {},
    )
