"""trackers: one consumer of the account's execution reports feeding the order-tracker and the position-tracker.

The order is updated first, then the position; both updates are idempotent, so a failure in between is repaired
by the redelivery (the handler raises → requeued → dead-lettered after the delivery limit).
"""

from __future__ import annotations

from binance_tool.bus.api import Delivery, Publisher
from binance_tool.clock import Clock
from binance_tool.events import Envelope, ExecutionReportReceived
from services.trackers.commission import CommissionPrices
from services.trackers.filters import FiltersProvider
from services.trackers.order_tracker import OrderTracker
from services.trackers.position_tracker import PositionTracker
from services.trackers.repair import MissingFillsRepair
from services.trackers.store import TrackerStore

SERVICE = "trackers"


class TrackersService:
    def __init__(
        self,
        publisher: Publisher,
        store: TrackerStore,
        filters: FiltersProvider,
        clock: Clock,
        quote_asset: str = "USDT",
        commission_prices: CommissionPrices | None = None,
        repair: MissingFillsRepair | None = None,
    ) -> None:
        self.store = store
        self.repair = repair
        self.orders = OrderTracker(store)
        self.positions = PositionTracker(publisher, store, filters, clock, quote_asset, commission_prices)

    async def on_execution_report(self, event: Envelope, delivery: Delivery | None = None) -> None:
        if not isinstance(event, ExecutionReportReceived):
            raise TypeError(f"unexpected {type(event).__name__}")
        order = await self.orders.on_report(event)
        await self.positions.on_report(event)
        if order is not None and self.repair is not None:
            self.repair.check(order, event.exchange, event.account)
