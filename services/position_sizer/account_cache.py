"""The account as the sizer needs it, without spending the exchange's request weight on every signal.

Balances are read once over REST, then kept current from the user data stream (`outboundAccountPosition`), and
re-read every `resync_s` and after the stream reconnects; prices are refreshed for every market at once every
`prices_s` (one weighted call), and a market not seen yet is read on demand.  A signal is sized against this view:
at most `prices_s` old for marks, and balances as fresh as the stream (an order's lock arrives within
milliseconds of its acceptance)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Sequence
from decimal import Decimal

import structlog
from tenacity import AsyncRetrying, retry_if_exception_type, wait_exponential

from binance_tool.exchange.execution import AccountData, AccountPosition, Balance, ExchangeUnavailable

log = structlog.get_logger()


class AccountCache:
    def __init__(self, account: AccountData, resync_s: float = 30.0, prices_s: float = 5.0) -> None:
        self.account = account
        self.resync_s = resync_s
        self.prices_s = prices_s
        self._balances: dict[str, Balance] | None = None
        self._balances_at = 0.0
        self._prices: dict[str, Decimal] = {}
        self._prices_at = 0.0
        self._tasks: list[asyncio.Task[None]] = []
        self._lock = asyncio.Lock()

    async def start(self) -> None:
        """Read balances and prices, waiting for the exchange to answer."""
        async for attempt in AsyncRetrying(
            retry=retry_if_exception_type(ExchangeUnavailable),
            wait=wait_exponential(multiplier=0.2, max=5.0),
            before_sleep=lambda state: log.info(
                "sizer_waiting_for_exchange",
                error=repr(state.outcome and state.outcome.exception()),
                retry_in_s=getattr(state.next_action, "sleep", None),
            ),
        ):
            with attempt:
                await self._reload_balances()
                await self._reload_prices()
        self._tasks = [asyncio.create_task(self._follow_stream()), asyncio.create_task(self._refresh())]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def balances(self) -> dict[str, Balance]:
        if self._balances is None or time.monotonic() - self._balances_at > self.resync_s * 2:
            await self._reload_balances()  # never started, or the refresher is failing: read now
        assert self._balances is not None
        return dict(self._balances)

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        wanted = list(symbols) if symbols is not None else list(self._prices)
        missing = [s for s in wanted if s not in self._prices]
        if missing or time.monotonic() - self._prices_at > self.prices_s * 4:
            await self._reload_prices(missing or None)
        return {s: self._prices[s] for s in wanted if s in self._prices}

    async def _reload_balances(self) -> None:
        async with self._lock:
            self._balances = await self.account.balances()
            self._balances_at = time.monotonic()

    async def _reload_prices(self, only: list[str] | None = None) -> None:
        fresh = await self.account.prices(only)
        self._prices.update(fresh)
        if only is None:
            self._prices_at = time.monotonic()

    def apply(self, event: AccountPosition) -> None:
        if self._balances is None:
            return
        for b in event.balances:
            self._balances[b.asset] = b

    async def _follow_stream(self) -> None:
        while True:
            try:
                async for event in self.account.user_events():
                    if isinstance(event, AccountPosition):
                        self.apply(event)
            except Exception as exc:
                log.warning("sizer_user_stream_failed", error=repr(exc))
            with contextlib.suppress(ExchangeUnavailable):
                await self._reload_balances()  # whatever the stream missed
            await asyncio.sleep(1.0)

    async def _refresh(self) -> None:
        next_balances = time.monotonic() + self.resync_s
        while True:
            await asyncio.sleep(self.prices_s)
            try:
                await self._reload_prices()
                if time.monotonic() >= next_balances:
                    await self._reload_balances()
                    next_balances = time.monotonic() + self.resync_s
            except ExchangeUnavailable as exc:
                log.warning("sizer_account_refresh_failed", error=repr(exc))
