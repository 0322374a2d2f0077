"""Keeps every active trade in line with the exchange: the stop covers what has filled (partial fills included),
an entry's unfilled part is cancelled at its deadline, unknown outcomes are resolved by client order id, and a
stop that filled closes the trade.  Driven by the account's user data stream (each execution report re-checks its
market) and by a periodic sweep, which also covers a dropped stream."""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from binance_tool.exchange.execution import AccountData, ExecutionReport
from services.trade_abstraction.executor import SpotExecutor

log = structlog.get_logger()


class Protector:
    def __init__(self, executor: SpotExecutor, account: AccountData, interval_s: float) -> None:
        self.executor = executor
        self.account = account
        self.interval_s = interval_s

    async def sweep_once(self, symbol: str | None = None) -> int:
        trades = [t for t in await self.executor.store.active_trades() if symbol is None or t.symbol == symbol]
        for trade in trades:
            try:
                await self.executor.sync(trade)
            except Exception as exc:  # one bad trade must not stop the others being protected
                log.exception("tas_sync_failed", trade_id=trade.trade_id, symbol=trade.symbol, error=repr(exc))
        return len(trades)

    async def run_sweeps(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.sweep_once()
            except Exception as exc:
                log.exception("tas_sweep_failed", error=repr(exc))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.interval_s)

    async def run_events(self, stop: asyncio.Event) -> None:
        """Each execution report marks its market for a re-check; a burst of reports costs one check per market."""
        dirty: set[str] = set()
        wake = asyncio.Event()

        async def checker() -> None:
            while True:
                await wake.wait()
                wake.clear()
                while dirty:
                    await self.sweep_once(dirty.pop())

        task = asyncio.create_task(checker())
        try:
            while not stop.is_set():
                try:
                    async for event in self.account.user_events():
                        if isinstance(event, ExecutionReport):
                            dirty.add(event.symbol)
                            wake.set()
                        if stop.is_set():
                            return
                except Exception as exc:
                    log.warning("tas_user_stream_failed", error=repr(exc))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), 1.0)
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
