"""Read API for the CLI (`binance-tool performance`): what the performance service holds in Redis."""

from __future__ import annotations

from dataclasses import dataclass

from redis.asyncio import Redis

from binance_tool.events.performance import ClosedPositionSummary, SignalTradeSummary
from services.performance.edge_results import (
    EdgeBook,
    effective_closes,
    position_summary,
    signal_trades,
    trade_summary,
)
from services.performance.store import RedisPerformanceStore


@dataclass(frozen=True)
class EdgeView:
    book: EdgeBook
    signal_trades: list[SignalTradeSummary]  # every market's, by entry time (open ones included)
    closed_positions: list[ClosedPositionSummary]  # by close time


async def edges(redis: Redis, prefix: str = "performance") -> list[str]:
    return await RedisPerformanceStore(redis, prefix).edges()


async def edge_view(redis: Redis, edge: str, prefix: str = "performance") -> EdgeView:
    store = RedisPerformanceStore(redis, prefix)
    records = await store.markets(edge)
    trades = [trade_summary(r, t) for r in records for t in signal_trades(r)]
    closed = [position_summary(r, c) for r in records for c in effective_closes(r)]  # corrected closes replace
    return EdgeView(
        await store.book(edge),
        sorted(trades, key=lambda t: (t.entry_ms, t.symbol)),
        sorted(closed, key=lambda c: (c.closed_at_ms, c.symbol)),
    )
