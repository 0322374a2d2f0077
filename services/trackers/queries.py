"""Read API for the CLI (`binance-tool positions` / orders): what the trackers hold in Redis."""

from __future__ import annotations

from redis.asyncio import Redis

from binance_tool.tracking import Position, TrackedOrder
from services.trackers.store import RedisTrackerStore


async def open_positions(redis: Redis, account: str = "default") -> list[Position]:
    """The account's open positions (not flat, not dust), sorted by base asset then edge (manual last)."""
    records = await RedisTrackerStore(redis).positions(account, with_fills=False)
    positions = [r.position for r in records]
    return sorted((p for p in positions if not p.closed), key=lambda p: (p.base_asset, p.edge is None, p.edge or ""))


async def orders(redis: Redis, account: str, symbol: str) -> list[TrackedOrder]:
    """Every tracked order of the symbol, by order id."""
    return await RedisTrackerStore(redis).orders(account, symbol)


async def all_positions(redis: Redis, account: str = "default") -> list[Position]:
    """Every position the trackers hold for the account (open and closed), sorted as `open_positions`."""
    records = await RedisTrackerStore(redis).positions(account, with_fills=False)
    return sorted((r.position for r in records), key=lambda p: (p.base_asset, p.edge is None, p.edge or ""))
