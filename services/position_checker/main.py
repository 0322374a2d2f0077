"""position-checker entry point: wiring only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.exchange.execution import AccountData, SpotExecution
from binance_tool.health import Health, HealthServer
from binance_tool.runtime import run_service
from services.position_checker.open_store import OpenMismatchStore, RedisOpenMismatchStore
from services.position_checker.service import SERVICE, CheckerConfig, PositionChecker, Sleep
from services.position_checker.settings import CheckerSettings
from services.position_checker.sources import PositionsSource, TrackedPositions
from services.trackers.store import RedisTrackerStore


@dataclass
class App:
    checker: PositionChecker
    bus: MessageBus
    health: Health
    closers: wiring.Closers = field(default_factory=wiring.Closers)

    async def aclose(self) -> None:
        await self.closers.aclose()


def config_of(settings: CheckerSettings) -> CheckerConfig:
    return CheckerConfig(
        account=settings.checker_account,
        reconcile=settings.reconcile_settings(),
        interval_s=settings.checker_interval_s,
        confirm_delay_s=settings.checker_confirm_delay_s,
        remind_s=settings.checker_remind_s,
        alert_after_failures=settings.checker_alert_after_failures,
    )


async def build(
    settings: CheckerSettings,
    *,
    bus: MessageBus | None = None,
    exchange: tuple[AccountData, SpotExecution] | None = None,
    positions: PositionsSource | None = None,
    clock: Clock | None = None,
    sleep: Sleep | None = None,
    open_store: OpenMismatchStore | None = None,
) -> App:
    """Composition root: tests pass fakes for any part (`exchange` = the account and execution ports)."""
    closers = wiring.Closers()
    need_redis = positions is None or open_store is None
    bus, redis = await wiring.redis_and_bus(settings, SERVICE, closers, bus=bus, need_redis=need_redis)
    if exchange is None:
        spot = await wiring.spot_exchange(settings, closers)
        exchange = (spot, spot)
    if positions is None:
        assert redis is not None
        positions = TrackedPositions(RedisTrackerStore(redis))
    if open_store is None:
        assert redis is not None
        open_store = RedisOpenMismatchStore(redis)
    health = Health()
    checker = PositionChecker(
        bus, exchange[0], exchange[1], positions, config_of(settings), clock or SystemClock(), health, sleep,
        open_store,
    )  # fmt: skip
    return App(checker, bus, health, closers)


async def main(settings: CheckerSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    server = HealthServer(app.health, port=settings.health_port) if settings.health_port else None
    try:
        if server:
            await server.start()
        await app.checker.run(stop)  # ready after the first complete check; not ready while checks fail
        app.health.ready = False
    finally:
        if server:
            await server.stop()
        await app.aclose()


def run() -> None:
    run_service(SERVICE, CheckerSettings, main)
