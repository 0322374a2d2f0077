"""position-tracker: each TRADE report becomes a `PositionFill` of (account, base asset, edge); the position is
updated atomically with the pure `fold_fill` (a late fill: `position_from_fills`) and a `PositionChanged` is
published when what is held changes.

The event of a fill is decided inside the same atomic update that stores the fill and is stored with it (by trade
id); the update is O(1) for an in-order fill (see store.py).  A redelivered report (e.g. after a crash between the
write and the publish) finds its fill known and republishes the stored event, with its deterministic id:
at-least-once, and downstream dedup keeps one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Literal

import structlog

from binance_tool.bus.api import Publisher
from binance_tool.clock import Clock
from binance_tool.events import ExecutionReportReceived, PositionChanged
from binance_tool.tracking import Position, PositionFill, PositionKey
from binance_tool.trading.filters import SymbolFilters
from services.trackers import codec
from services.trackers.commission import CommissionPrices
from services.trackers.filters import FiltersProvider
from services.trackers.store import TrackerStore

Change = Literal["opened", "increased", "reduced", "closed"]


def base_asset_of(symbol: str, quote_asset: str) -> str | None:
    if symbol.endswith(quote_asset) and len(symbol) > len(quote_asset):
        return symbol[: -len(quote_asset)]
    return None


def change_of(before: Position | None, after: Position) -> Change | None:
    """opened: flat (or dust) → held; closed: held → dust/flat; increased/reduced: held quantity moved."""
    was_open = before is not None and not before.closed
    if not was_open:
        return None if after.closed else "opened"
    assert before is not None
    if after.closed:
        return "closed"
    if after.quantity > before.quantity:
        return "increased"
    if after.quantity < before.quantity:
        return "reduced"
    return None


def corrects_closed_period(before: Position | None, after: Position) -> bool:
    """A late fill left the position closed and changed the figures of its last holding period (the period P&L,
    its cost): consumers of "closed" (edge performance) must hear the corrected close of the same period."""
    return (
        before is not None
        and before.closed
        and after.closed
        and after.closed_ms is not None
        and (after.period_realised_pnl, after.period_cost) != (before.period_realised_pnl, before.period_cost)
    )


class PositionTracker:
    def __init__(
        self,
        publisher: Publisher,
        store: TrackerStore,
        filters: FiltersProvider,
        clock: Clock,
        quote_asset: str = "USDT",
        commission_prices: CommissionPrices | None = None,
    ) -> None:
        self._bus = publisher
        self._commission_prices = commission_prices
        self._store = store
        self._filters = filters
        self._clock = clock
        self.quote_asset = quote_asset
        self._log = structlog.get_logger().bind(component="position-tracker")

    async def on_report(self, event: ExecutionReportReceived) -> PositionChanged | None:
        fill = codec.position_fill_of(event)
        if fill is None:
            return None
        log = self._log.bind(
            account=event.account, symbol=event.symbol, edge=event.edge, trade_id=fill.trade_id,
            correlation_id=str(event.correlation_id),
        )  # fmt: skip
        base = base_asset_of(event.symbol, self.quote_asset)
        if base is None:
            log.warning("fill_of_other_quote_asset_ignored", quote_asset=self.quote_asset)
            return None
        filters = await self._filters.get(event.symbol)
        if filters is None:
            log.warning("symbol_filters_unknown", note="closed only when flat")
            filters = SymbolFilters(symbol=event.symbol, base_asset=base, quote_asset=self.quote_asset)
        key = PositionKey(event.account, base, event.edge)
        now = self._clock.now_ms()
        if fill.commission and fill.commission_asset not in (base, self.quote_asset) and self._commission_prices:
            price = await self._commission_prices.price(fill.commission_asset, self.quote_asset)
            fill = replace(fill, commission_price=price)

        def decide(before: Position | None, after: Position, late: bool) -> PositionChanged | None:
            kind = change_of(before, after)
            if kind is None and late and corrects_closed_period(before, after):
                kind = "closed"  # a late fill changed a closed holding period's figures: its close again, corrected
            return None if kind is None else self._event(event, fill, key, kind, after, now)

        applied = await self._store.add_position_fill(key, filters, fill, decide)  # FillConflict propagates
        published = applied.event  # a known fill: the event it caused, republished (same id) after a crash
        if published is not None:
            await self._bus.publish(published)
            log.info(
                "position_changed",
                change=published.change,
                quantity=str(published.quantity),
                realised_pnl=str(published.realised_pnl),
            )
        return published

    def _event(
        self,
        event: ExecutionReportReceived,
        fill: PositionFill,
        key: PositionKey,
        kind: Change,
        pos: Position,
        now: int,
    ) -> PositionChanged:
        return PositionChanged(
            event_id=PositionChanged.id_for(key.account, key.base_asset, key.edge, fill.trade_id),
            correlation_id=event.correlation_id,
            ts_event_ms=fill.time_ms,
            ts_init_ms=now,
            account=key.account,
            change=kind,
            edge=key.edge,
            base_asset=key.base_asset,
            quote_asset=pos.quote_asset or self.quote_asset,
            symbol=event.symbol,
            cause_trade_id=fill.trade_id,
            quantity=pos.quantity,
            average_entry_price=pos.average_entry_price,
            realised_pnl=pos.realised_pnl,
            fees_quote=pos.fees_quote,
            opened_at_ms=pos.opened_ms,
            closed_at_ms=pos.closed_ms,
            period_realised_pnl=pos.period_realised_pnl,
            period_cost=pos.period_cost,
            fills_known=pos.fill_count,
        )
