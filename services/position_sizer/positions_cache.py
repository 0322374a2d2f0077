"""The TAS's active trades as the sizer sees them, without an HTTP round trip per signal.

Only the sizer can open positions (the TAS `sizer` role), so the view is complete: it is read from the TAS at start
and every `refresh_s`, the sizer adds its own entries the moment the TAS accepts them, and drops a market the moment
a close answers.  Between refreshes the view can only over-state exposure (a stop that filled, an entry that
expired), which makes sizing stricter, never looser.  Changes made while a refresh is in flight are re-applied on
top of its answer."""

from __future__ import annotations

import asyncio
import contextlib
from decimal import Decimal
from typing import Any

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from services.position_sizer.tas_client import TasClient, TasUnavailable

log = structlog.get_logger()


class TasPositions:
    def __init__(self, tas: TasClient, refresh_s: float = 5.0) -> None:
        self.tas = tas
        self.refresh_s = refresh_s
        self._items: dict[str, dict[str, Any]] | None = None
        self._changes: list[tuple[str, dict[str, Any] | None]] = []  # since the running refresh began
        self._refreshing = False
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Read the TAS's trades, waiting for the TAS to come up (start order of the processes is free)."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(TasUnavailable),
            wait=wait_exponential(multiplier=0.2, max=5.0),
            before_sleep=lambda state: log.info(
                "sizer_waiting_for_tas",
                error=repr(state.outcome and state.outcome.exception()),
                retry_in_s=getattr(state.next_action, "sleep", None),
            ),
        ):
            with attempt:
                await self.refresh()
        self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task

    async def positions(self) -> list[dict[str, Any]]:
        if self._items is None:
            await self.refresh()
        assert self._items is not None
        return list(self._items.values())

    def entered(self, edge: str, symbol: str, quantity: Decimal, limit: Decimal, stop: Decimal) -> None:
        item = {"edge": edge, "symbol": symbol, "quantity": "0", "entry_limit": str(limit),
                "entry_pending_qty": str(quantity), "average_entry_price": None, "stop_price": str(stop)}  # fmt: skip
        self._change(symbol, item)

    def closed(self, symbol: str) -> None:
        self._change(symbol, None)

    def _change(self, symbol: str, item: dict[str, Any] | None) -> None:
        if self._items is not None:
            if item is None:
                self._items.pop(symbol, None)
            else:
                self._items[symbol] = item
        if self._refreshing:
            self._changes.append((symbol, item))

    async def refresh(self) -> None:
        self._refreshing, self._changes = True, []
        try:
            fresh = {str(p["symbol"]): p for p in await self.tas.positions()}
        finally:
            self._refreshing = False
        for symbol, item in self._changes:
            if item is None:
                fresh.pop(symbol, None)
            else:
                fresh[symbol] = item
        self._items = fresh

    async def _loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_s)
            try:
                await self.refresh()
            except TasUnavailable as exc:
                log.warning("sizer_positions_refresh_failed", error=repr(exc))
