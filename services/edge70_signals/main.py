"""edge70-signals entry point: wiring only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.events import Edge70Parameters
from binance_tool.exchange.market_data import MarketData
from binance_tool.health import Health, HealthServer
from binance_tool.runtime import run_service
from binance_tool.state.edge70_state import Edge70StateStore, RedisEdge70StateStore
from services.edge70_signals.service import Edge70SignalsService
from services.edge70_signals.settings import Edge70ServiceSettings
from services.edge70_signals.subscriptions import edge70_candles

SERVICE = "edge70-signals"


@dataclass
class App:
    service: Edge70SignalsService
    bus: MessageBus
    market_data: MarketData
    health: Health
    health_server: HealthServer
    closers: list[Any]


async def build(
    settings: Edge70ServiceSettings,
    *,
    bus: MessageBus | None = None,
    market_data: MarketData | None = None,
    store: Edge70StateStore | None = None,
    clock: Clock | None = None,
) -> App:
    closers: list[Any] = []
    redis = None
    if bus is None or store is None:
        redis = wiring.redis_client(settings)
        closers.append(redis)
    bus = bus or wiring.amqp_bus(settings, redis, SERVICE)  # type: ignore[arg-type]
    md = market_data or wiring.market_data(settings)
    await bus.connect()
    markets = await wiring.universe(md, settings.edge70_quote_asset, settings.symbols)
    params = Edge70Parameters(
        long_lookback=settings.edge70_long_lookback, short_lookback=settings.edge70_short_lookback
    )
    service = Edge70SignalsService(
        bus,
        md,
        store or RedisEdge70StateStore(redis),
        clock or SystemClock(),
        params,
        markets,  # type: ignore[arg-type]
        settings.edge70_state_ttl_s,
        settings.edge70_warmup_candles,
    )
    health = Health()
    return App(service, bus, md, health, HealthServer(health, port=settings.health_port), closers)


async def main(settings: Edge70ServiceSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    await app.health_server.start()
    subscription = edge70_candles("1d", settings.amqp_prefetch, settings.amqp_delivery_limit)
    try:
        await app.bus.declare([subscription])
        await app.service.warm_up()
        consumer = await app.bus.consume(subscription, app.service.on_candle)
        app.health.ready = True
        await stop.wait()
        await consumer.stop()
    finally:
        await app.health_server.stop()
        await app.bus.close()
        await app.market_data.close()
        for c in app.closers:
            await c.aclose()


def run() -> None:
    run_service(SERVICE, Edge70ServiceSettings, main)
