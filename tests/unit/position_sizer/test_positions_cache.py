"""The sizer's view of the TAS's trades: its own entries and closes apply at once, even across a refresh in flight."""

from __future__ import annotations

import asyncio
from decimal import Decimal

from services.position_sizer.positions_cache import TasPositions


class SlowTas:
    """Answers `positions()` with a snapshot taken when called, after a delay (a refresh in flight)."""

    def __init__(self, items: list[dict]) -> None:
        self.items = items
        self.delay = 0.0

    async def positions(self) -> list[dict]:
        snapshot = list(self.items)
        await asyncio.sleep(self.delay)
        return snapshot


async def test_own_entries_and_closes_apply_at_once_and_survive_a_refresh_in_flight():
    tas = SlowTas([{"symbol": "BTCUSDT", "edge": "edge70"}])
    view = TasPositions(tas, refresh_s=60)  # type: ignore[arg-type]
    await view.refresh()
    assert [p["symbol"] for p in await view.positions()] == ["BTCUSDT"]
    tas.delay = 0.05
    refreshing = asyncio.create_task(view.refresh())  # snapshot: BTC only
    await asyncio.sleep(0.01)
    view.entered("edge70", "ETHUSDT", Decimal(1), Decimal(100), Decimal(85))
    view.closed("BTCUSDT")
    await refreshing
    assert [p["symbol"] for p in await view.positions()] == ["ETHUSDT"]
    (eth,) = await view.positions()
    assert eth["entry_pending_qty"] == "1" and eth["stop_price"] == "85"
