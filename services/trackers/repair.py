"""Catching up fills an order reports as missing: a terminal order whose executed quantity is larger than the fills
the trackers hold (a TRADE report dead-lettered, a queue purged by hand, ...).  After `delay_s` — the reports may
just be out of order — the order is read again; if fills are still missing, its trades are read from the exchange
(`myTrades`) and republished as TRADE reports with the ids the stream would have given them, so the trackers (and
every other consumer) take them through the normal path and dedup keeps one of each.

The order-stream ingestion's back-fill covers stream gaps; this is the safety net for what is lost after it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import structlog

from binance_tool.bus.api import Publisher
from binance_tool.clock import Clock
from binance_tool.exchange.execution import ExchangeUnavailable, OrderState, TradeRecord
from binance_tool.tracking import TrackedOrder
from services.order_ingestion.reports import Origin, trade_reports
from services.trackers.store import TrackerStore


class TradesSource(Protocol):
    async def my_trades(self, symbol: str, from_trade_id: int | None = None) -> list[TradeRecord]: ...


class MissingFillsRepair:
    def __init__(
        self,
        trades: TradesSource,
        store: TrackerStore,
        publisher: Publisher,
        clock: Clock,
        delay_s: float = 30.0,
    ) -> None:
        self._trades = trades
        self._store = store
        self._bus = publisher
        self._clock = clock
        self._delay_s = delay_s
        self._pending: dict[tuple[str, str, str, int], asyncio.Task[int]] = {}
        self._log = structlog.get_logger().bind(component="missing-fills")

    def check(self, order: TrackedOrder, exchange: str, account: str) -> asyncio.Task[int] | None:
        """Schedule a repair of `order` when it is terminal with fills missing (once per order at a time)."""
        if not (order.is_terminal and order.missing_fills):
            return None
        key = (exchange, account, order.symbol, order.order_id)
        if key not in self._pending:
            self._pending[key] = asyncio.create_task(self._repair_later(key))
        return self._pending[key]

    async def _repair_later(self, key: tuple[str, str, str, int]) -> int:
        exchange, account, symbol, order_id = key
        log = self._log.bind(account=account, symbol=symbol, order_id=order_id)
        try:
            await asyncio.sleep(self._delay_s)
            order = await self._store.order(account, symbol, order_id)
            if order is None or not order.missing_fills:
                return 0
            known = {f.trade_id for f in order.fills}
            trades = [t for t in await self._trades.my_trades(symbol) if t.order_id == order_id]
            missing = [t for t in trades if t.trade_id not in known]
            state = OrderState(
                symbol=order.symbol, order_id=order.order_id, client_order_id=order.client_order_id,
                side=order.side, type=order.type, status=order.status, orig_qty=order.orig_qty,
                executed_qty=order.executed_qty, cummulative_quote_qty=order.cumulative_quote_qty,
                price=order.price, stop_price=order.stop_price,
            )  # fmt: skip
            reports = trade_reports(missing, {order_id: state}, Origin(exchange, account), self._clock.now_ms())
            if reports:
                await self._bus.publish_many(reports)
            found = sum((t.quantity for t in trades), Decimal(0))
            log.warning(
                "missing_fills_republished",
                trades=[t.trade_id for t in missing],
                executed_qty=str(order.executed_qty),
                found_qty=str(found),
                complete=found >= order.executed_qty,
            )
            return len(reports)
        except ExchangeUnavailable as exc:  # the next report of the order schedules it again
            log.warning("missing_fills_exchange_unavailable", error=str(exc))
            return 0
        except Exception:  # a repair must never take the service down
            log.exception("missing_fills_repair_failed")
            return 0
        finally:
            self._pending.pop(key, None)

    async def aclose(self) -> None:
        tasks: Sequence[asyncio.Task[int]] = list(self._pending.values())
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
