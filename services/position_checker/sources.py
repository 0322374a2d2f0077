"""Where the checker reads the positions we think we hold: the trackers' store (Redis in production)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from binance_tool.tracking import Position
from services.trackers.store import TrackerStore


class PositionsSource(Protocol):
    async def positions(self, account: str) -> list[Position]:
        """Every tracked position of the account, open or closed (a closed one may still hold dust)."""
        ...


class TrackedPositions:
    """The position-tracker's records (`RedisTrackerStore` in production, `InMemoryTrackerStore` in tests)."""

    def __init__(self, store: TrackerStore) -> None:
        self.store = store

    async def positions(self, account: str) -> list[Position]:
        return [record.position for record in await self.store.positions(account, with_fills=False)]


class UnreadablePositions(RuntimeError):
    """The fake's stand-in for a store that cannot be read."""


class InMemoryPositions:
    """A fake for unit tests: a list of positions per account the test edits; `fail_next()` makes reads fail."""

    def __init__(self, positions: Iterable[Position] = (), account: str = "default") -> None:
        self.by_account: dict[str, list[Position]] = {account: list(positions)}
        self._failures = 0
        self.reads = 0

    def set(self, positions: Iterable[Position], account: str = "default") -> None:
        self.by_account[account] = list(positions)

    def fail_next(self, reads: int = 1) -> None:
        self._failures += reads

    async def positions(self, account: str) -> list[Position]:
        self.reads += 1
        if self._failures:
            self._failures -= 1
            raise UnreadablePositions("positions store unavailable (fake)")
        return list(self.by_account.get(account, []))
