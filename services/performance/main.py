"""performance entry point: wiring only."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import structlog
from redis.asyncio import Redis

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.exchange.execution import AccountData
from binance_tool.health import Health, HealthServer
from binance_tool.runtime import run_service
from binance_tool.tracking.positions import Position
from services.performance.service import SERVICE, EdgePerformanceService, PositionPerformanceReporter, PositionsSource
from services.performance.settings import PerformanceSettings
from services.performance.store import PerformanceStore, RedisPerformanceStore
from services.performance.subscriptions import performance_edge_events
from services.trackers import queries as tracker_queries


class TrackerPositions:
    """The position-tracker's open positions in Redis (`services.trackers.queries`)."""

    def __init__(self, redis: Redis, account: str) -> None:
        self.redis = redis
        self.account = account

    async def open_positions(self) -> list[Position]:
        return await tracker_queries.open_positions(self.redis, self.account)


@dataclass
class App:
    edges: EdgePerformanceService
    reporter: PositionPerformanceReporter
    bus: MessageBus
    health: Health
    closers: wiring.Closers = field(default_factory=wiring.Closers)

    async def aclose(self) -> None:
        await self.closers.aclose()


async def build(
    settings: PerformanceSettings,
    *,
    bus: MessageBus | None = None,
    store: PerformanceStore | None = None,
    positions: PositionsSource | None = None,
    exchange: AccountData | None = None,
    clock: Clock | None = None,
) -> App:
    """Composition root: tests pass fakes for any part."""
    closers = wiring.Closers()
    need_redis = store is None or positions is None
    bus, redis = await wiring.redis_and_bus(settings, SERVICE, closers, bus=bus, need_redis=need_redis)
    if store is None:
        assert redis is not None
        store = RedisPerformanceStore(redis, settings.performance_key_prefix, settings.performance_update_attempts)
    if positions is None:
        assert redis is not None
        positions = TrackerPositions(redis, settings.performance_account)
    if exchange is None:
        exchange = await wiring.spot_exchange(settings, closers)
    clock = clock or SystemClock()
    account = settings.performance_account
    edges = EdgePerformanceService(bus, store, clock, account)
    reporter = PositionPerformanceReporter(bus, positions, exchange, clock, account)
    return App(edges, reporter, bus, Health(), closers)


async def report_periodically(reporter: PositionPerformanceReporter, interval_s: float, stop: asyncio.Event) -> None:
    """At start, then every `interval_s`, until `stop`; a failed report is logged and retried next time."""
    log = structlog.get_logger().bind(service=SERVICE)
    while not stop.is_set():
        try:
            event = await reporter.report()
            log.info("positions_performance_reported", positions=len(event.positions), unpriced=len(event.unpriced))
        except Exception as exc:
            log.exception("positions_performance_failed", error=repr(exc))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=interval_s)


async def main(settings: PerformanceSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    server = HealthServer(app.health, port=settings.health_port) if settings.health_port else None
    subscription = performance_edge_events(
        settings.amqp_prefetch,
        settings.amqp_delivery_limit,
        queue=settings.performance_queue,
        expires_ms=settings.performance_queue_expires_ms,
    )
    try:
        if server:
            await server.start()
        await app.bus.declare([subscription])
        consumer = await app.bus.consume(subscription, app.edges.on_event)
        reports = asyncio.create_task(
            report_periodically(app.reporter, settings.performance_positions_interval_s, stop), name="positions"
        )
        app.health.ready = True
        await stop.wait()
        app.health.ready = False
        await reports
        await consumer.stop()
    finally:
        if server:
            await server.stop()
        await app.aclose()


def run() -> None:
    run_service(SERVICE, PerformanceSettings, main)
