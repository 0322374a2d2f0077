"""trackers entry point: wiring only."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field

import structlog

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.exchange.execution import ExchangeUnavailable
from binance_tool.health import Health, HealthServer
from binance_tool.runtime import run_service
from services.trackers.commission import CommissionPrices, TickerCommissionPrices
from services.trackers.filters import ExchangeFilters, FiltersProvider
from services.trackers.portfolio_store import PortfolioStore, RedisPortfolioStore
from services.trackers.portfolio_tracker import PortfolioTracker, PriceSource
from services.trackers.repair import MissingFillsRepair, TradesSource
from services.trackers.service import SERVICE, TrackersService
from services.trackers.settings import TrackersSettings
from services.trackers.store import RedisTrackerStore, TrackerStore
from services.trackers.subscriptions import trackers_balances, trackers_execution_reports


@dataclass
class App:
    service: TrackersService
    portfolio: PortfolioTracker
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
    portfolio_store: PortfolioStore | None = None,
    prices: PriceSource | None = None,
    commission_prices: CommissionPrices | None = None,
    trades: TradesSource | None = None,
) -> App:
    """Composition root: tests pass fakes for any part (the exchange is only connected when a part needs it)."""
    closers = wiring.Closers()
    need_redis = store is None or portfolio_store is None
    bus, redis = await wiring.redis_and_bus(settings, SERVICE, closers, bus=bus, need_redis=need_redis)
    if filters is None or prices is None:
        exchange = await wiring.spot_exchange(settings, closers)
        filters = filters or ExchangeFilters(exchange, settings.trackers_filters_refresh_s)
        prices = prices or exchange
        commission_prices = commission_prices or TickerCommissionPrices(exchange)
        trades = trades or exchange
    if store is None:
        assert redis is not None
        store = RedisTrackerStore(redis, settings.trackers_update_attempts)
    if portfolio_store is None:
        assert redis is not None
        portfolio_store = RedisPortfolioStore(redis, settings.trackers_update_attempts)
    clock = clock or SystemClock()
    quote = settings.trackers_quote_asset
    repair = (
        None
        if trades is None
        else MissingFillsRepair(trades, store, bus, clock, settings.trackers_missing_fills_delay_s)
    )
    if repair is not None:
        closers.add(repair.aclose)
    service = TrackersService(bus, store, filters, clock, quote, commission_prices, repair)
    portfolio = PortfolioTracker(
        bus, portfolio_store, prices, clock, quote, settings.trackers_usd_asset, settings.trackers_usd_peg_fallback
    )
    return App(service, portfolio, bus, Health(), filters, closers)


async def refresh_prices_forever(app: App, settings: TrackersSettings, stop: asyncio.Event) -> None:
    """Revalue the portfolio at current prices every `TRACKERS_PRICES_REFRESH_S` (an unavailable exchange is
    logged and retried at the next tick)."""
    log = structlog.get_logger().bind(component="portfolio-tracker")
    while not stop.is_set():
        try:
            await app.portfolio.refresh_prices(settings.trackers_account)
        except ExchangeUnavailable as exc:
            log.warning("prices_unavailable", error=str(exc), retry_in_s=settings.trackers_prices_refresh_s)
        except Exception as exc:  # Redis or the bus: logged, tried again at the next tick (never a silent stop)
            log.error("portfolio_revaluation_failed", error=repr(exc), retry_in_s=settings.trackers_prices_refresh_s)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), settings.trackers_prices_refresh_s)


async def main(settings: TrackersSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    server = HealthServer(app.health, port=settings.health_port) if settings.health_port else None
    subscription = trackers_execution_reports(settings.amqp_prefetch, settings.amqp_delivery_limit)
    balances = trackers_balances(settings.amqp_prefetch, settings.amqp_delivery_limit)
    try:
        if server:
            await server.start()
        if isinstance(app.filters, ExchangeFilters):
            await app.filters.load()  # the exchange answers before we report ready
        await app.bus.declare([subscription, balances])
        consumer = await app.bus.consume(subscription, app.service.on_execution_report)
        balances_consumer = await app.bus.consume(balances, app.portfolio.on_balances)
        refresher = asyncio.create_task(refresh_prices_forever(app, settings, stop))
        app.health.ready = True
        await stop.wait()
        app.health.ready = False
        await consumer.stop()
        await balances_consumer.stop()
        await refresher
    finally:
        if server:
            await server.stop()
        await app.aclose()


def run() -> None:
    run_service(SERVICE, TrackersSettings, main)
