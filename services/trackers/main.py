"""trackers entry point: wiring only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.health import Health, HealthServer
from binance_tool.runtime import run_service
from services.trackers.filters import ExchangeFilters, FiltersProvider
from services.trackers.service import SERVICE, TrackersService
from services.trackers.settings import TrackersSettings
from services.trackers.store import RedisTrackerStore, TrackerStore
from services.trackers.subscriptions import trackers_execution_reports


@dataclass
class App:
    service: TrackersService
    bus: MessageBus
    health: Health
    filters: FiltersProvider
    closers: wiring.Closers = field(default_factory=wiring.Closers)

    async def aclose(self) -> None:
        await self.closers.aclose()


async def build(
    settings: TrackersSettings,
    *,
    bus: MessageBus | None = None,
    store: TrackerStore | None = None,
    filters: FiltersProvider | None = None,
    clock: Clock | None = None,
) -> App:
    """Composition root: tests pass fakes for any part."""
    closers = wiring.Closers()
    bus, redis = await wiring.redis_and_bus(settings, SERVICE, closers, bus=bus, need_redis=store is None)
    if filters is None:
        exchange = await wiring.spot_exchange(settings)
        closers.add(exchange.close)
        filters = ExchangeFilters(exchange, settings.trackers_filters_refresh_s)
    if store is None:
        assert redis is not None
        store = RedisTrackerStore(redis, settings.trackers_update_attempts)
    service = TrackersService(bus, store, filters, clock or SystemClock(), settings.trackers_quote_asset)
    return App(service, bus, Health(), filters, closers)


async def main(settings: TrackersSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    server = HealthServer(app.health, port=settings.health_port) if settings.health_port else None
    subscription = trackers_execution_reports(settings.amqp_prefetch, settings.amqp_delivery_limit)
    try:
        if server:
            await server.start()
        if isinstance(app.filters, ExchangeFilters):
            await app.filters.load()  # the exchange answers before we report ready
        await app.bus.declare([subscription])
        consumer = await app.bus.consume(subscription, app.service.on_execution_report)
        app.health.ready = True
        await stop.wait()
        app.health.ready = False
        await consumer.stop()
    finally:
        if server:
            await server.stop()
        await app.aclose()


def run() -> None:
    run_service(SERVICE, TrackersSettings, main)
