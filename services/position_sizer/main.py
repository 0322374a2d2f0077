"""position-sizer entry point: wiring only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.exchange.execution import AccountData
from binance_tool.health import Health, HealthServer
from binance_tool.runtime import run_service
from services.position_sizer.account_cache import AccountCache
from services.position_sizer.kill_switch import ModeStore, RedisModeStore
from services.position_sizer.positions_cache import TasPositions
from services.position_sizer.service import SERVICE, PositionSizerService
from services.position_sizer.settings import SizerSettings
from services.position_sizer.subscriptions import sizer_signals
from services.position_sizer.tas_client import TasClient


@dataclass
class SizerApp:
    service: PositionSizerService
    bus: MessageBus
    closers: wiring.Closers
    cache: AccountCache

    async def start(self) -> None:
        await self.cache.start()  # balances and prices read, the user stream followed
        if self.service.positions is not None:
            await self.service.positions.start()

    async def aclose(self) -> None:
        await self.cache.stop()
        if self.service.positions is not None:
            await self.service.positions.stop()
        await self.closers.aclose()


async def build(
    settings: SizerSettings,
    *,
    bus: MessageBus | None = None,
    account: AccountData | None = None,
    tas: TasClient | None = None,
    modes: ModeStore | None = None,
    clock: Clock | None = None,
) -> SizerApp:
    closers = wiring.Closers()
    bus, redis = await wiring.redis_and_bus(
        settings,
        SERVICE,
        closers,
        bus=bus,
        need_redis=modes is None,
        batch_window_s=0.0,  # a signal waits for nothing
    )
    if account is None:
        account = await wiring.spot_exchange(settings, closers)
    if tas is None:
        if settings.tas_token is None:
            raise RuntimeError("TAS_TOKEN is required (the TAS 'sizer' role token)")
        tas = TasClient(settings.tas_url, settings.tas_token.get_secret_value(), settings.tas_timeout_s)
        closers.add(tas.aclose)
    cache = AccountCache(account, settings.sizer_account_resync_s, settings.sizer_prices_refresh_s)
    service = PositionSizerService(
        bus,
        account,
        tas,
        modes or RedisModeStore(redis),  # type: ignore[arg-type]
        clock or SystemClock(),
        settings.rules,
        settings.sizer_quote_asset,
        view=cache,
        positions=TasPositions(tas, settings.sizer_positions_refresh_s),
    )
    return SizerApp(service, bus, closers, cache)


async def main(settings: SizerSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    health = Health()
    server = HealthServer(health, port=settings.health_port) if settings.health_port else None
    subscription = sizer_signals(settings.amqp_prefetch, settings.amqp_delivery_limit)
    try:
        if server:
            await server.start()
        await app.bus.declare([subscription])
        await app.start()
        consumer = await app.bus.consume(subscription, app.service.on_signal)
        health.ready = True
        await stop.wait()
        await consumer.stop()
    finally:
        if server:
            await server.stop()
        await app.aclose()


def run() -> None:
    run_service(SERVICE, SizerSettings, main)
