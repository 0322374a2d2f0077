"""Every consuming service's subscriptions, in one place: the generated bus reference reads this list."""

from __future__ import annotations

from binance_tool.bus.api import Subscription
from services.demo_monitor.subscriptions import DEMO_MONITOR
from services.edge70_signals.subscriptions import edge70_candles
from services.performance.subscriptions import performance_edge_events
from services.position_sizer.subscriptions import sizer_signals
from services.trackers.subscriptions import trackers_balances, trackers_execution_reports

ALL_SUBSCRIPTIONS: tuple[Subscription, ...] = (
    edge70_candles("1d"),
    sizer_signals(),
    trackers_execution_reports(),
    trackers_balances(),
    DEMO_MONITOR,
    performance_edge_events(),
)
