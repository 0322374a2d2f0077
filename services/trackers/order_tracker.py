"""order-tracker: every execution report folded into the order's `TrackedOrder` in the store (pure `apply_report`)."""

from __future__ import annotations

import structlog

from binance_tool.events import ExecutionReportReceived
from binance_tool.tracking import TrackedOrder, apply_report
from services.trackers import codec
from services.trackers.store import TrackerStore


class OrderTracker:
    def __init__(self, store: TrackerStore) -> None:
        self._store = store
        self._log = structlog.get_logger().bind(component="order-tracker")

    async def on_report(self, event: ExecutionReportReceived) -> TrackedOrder | None:
        """The order after the report (None when the report is of a kind the domain does not model).  A late or
        duplicate report writes nothing; `ConflictingReport` propagates (redelivered, then dead-lettered)."""
        log = self._log.bind(
            account=event.account, symbol=event.symbol, order_id=event.order_id, edge=event.edge,
            execution_type=event.execution_type, correlation_id=str(event.correlation_id),
        )  # fmt: skip
        try:
            report = codec.execution_report_of(event)
        except ValueError as exc:
            log.warning(
                "order_report_not_modelled", order_type=event.order_type, status=event.order_status, error=str(exc)
            )
            return None
        before, after = await self._store.update_order(
            event.account, event.symbol, event.order_id, lambda current: apply_report(current, report)
        )
        if before is after:
            log.debug("order_report_without_effect", status=event.order_status)
        elif before is None or before.status != after.status:
            log.info(
                "order_status",
                status=after.status.value,
                previous=None if before is None else before.status.value,
                executed_qty=str(after.executed_qty),
            )
        return after
