"""trade-abstraction entry point: wiring only (settings → adapters → app + protector → run → dispose)."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.exchange.execution import AccountData, SpotExecution
from binance_tool.health import Health
from binance_tool.runtime import run_service
from services.trade_abstraction.app import SERVICE, Principal, TasDeps, build_app
from services.trade_abstraction.executor import SpotExecutor
from services.trade_abstraction.protector import Protector
from services.trade_abstraction.settings import TasSettings
from services.trade_abstraction.store import RedisTradeStore, TradeStore


@dataclass
class TasApp:
    app: FastAPI
    executor: SpotExecutor
    protector: Protector
    health: Health
    bus: MessageBus | None
    closers: wiring.Closers

    async def aclose(self) -> None:
        await self.closers.aclose()


async def build(
    settings: TasSettings,
    *,
    execution: SpotExecution | None = None,
    account: AccountData | None = None,
    store: TradeStore | None = None,
    bus: MessageBus | None = None,
    clock: Clock | None = None,
) -> TasApp:
    """Composition root: tests pass fakes (or an in-memory bus) for any part."""
    closers = wiring.Closers()
    declare = bus is None  # a bus passed in is the caller's to declare
    bus, redis = await wiring.redis_and_bus(settings, SERVICE, closers, bus=bus, need_redis=store is None)
    if declare:
        await bus.declare()
    if execution is None or account is None:
        exchange = await wiring.spot_exchange(settings, closers)
        execution, account = execution or exchange, account or exchange
    clock = clock or SystemClock()
    executor = SpotExecutor(
        execution,
        account,
        store or RedisTradeStore(redis),  # type: ignore[arg-type]
        clock,
        settings.tas_quote_asset,
        int(settings.tas_entry_timeout_s * 1000),
    )
    health = Health()
    tokens = {token: Principal(name, role) for token, (name, role) in settings.tokens.items()}
    app = build_app(TasDeps(executor, bus, clock, tokens, health))
    return TasApp(app, executor, Protector(executor, account, settings.tas_sweep_interval_s), health, bus, closers)


async def main(settings: TasSettings, stop: asyncio.Event) -> None:
    tas = await build(settings)
    config = uvicorn.Config(tas.app, host=settings.tas_host, port=settings.tas_port, log_config=None, access_log=False)
    server = uvicorn.Server(config)
    try:
        await tas.protector.sweep_once()  # reconcile with the exchange before reporting ready
        tas.health.ready = True
        tasks = [
            asyncio.create_task(server.serve()),
            asyncio.create_task(tas.protector.run_sweeps(stop)),
            asyncio.create_task(tas.protector.run_events(stop)),
        ]
        await stop.wait()
        server.should_exit = True
        await asyncio.wait(tasks, timeout=10)
        for task in tasks:
            task.cancel()
    finally:
        await tas.aclose()


def run() -> None:
    run_service(SERVICE, TasSettings, main)
