"""edge70-signals entry point: wiring only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.events import Edge70Parameters
from binance_tool.exchange.market_data import MarketData
from binance_tool.runtime import run_service
from binance_tool.state.edge70_state import Edge70StateStore, RedisEdge70StateStore
from services.edge70_signals.service import Edge70SignalsService
from services.edge70_signals.settings import Edge70ServiceSettings
from services.edge70_signals.subscriptions import edge70_candles

SERVICE = "edge70-signals"


@dataclass
class App:
    service: Edge70SignalsService
    adapters: wiring.Adapters


async def build(
    settings: Edge70ServiceSettings,
    *,
    bus: MessageBus | None = None,
    market_data: MarketData | None = None,
    store: Edge70StateStore | None = None,
    clock: Clock | None = None,
) -> App:
    """Composition root: tests pass fakes for any part."""
    adapters = await wiring.connect_adapters(
        settings, SERVICE, bus=bus, market_data=market_data, need_redis=store is None
    )
    markets = await wiring.universe(adapters.market_data, settings.edge70_quote_asset, settings.symbols)
    params = Edge70Parameters(
        long_lookback=settings.edge70_long_lookback, short_lookback=settings.edge70_short_lookback
    )
    service = Edge70SignalsService(
        adapters.bus,
        adapters.market_data,
        store or RedisEdge70StateStore(adapters.require_redis()),
        clock or SystemClock(),
        params,
        markets,
        settings.edge70_state_ttl_s,
        settings.edge70_warmup_candles,
    )
    return App(service, adapters)


async def main(settings: Edge70ServiceSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    adapters = app.adapters
    await adapters.health_server.start()
    subscription = edge70_candles("1d", settings.amqp_prefetch, settings.amqp_delivery_limit)
    try:
        await adapters.bus.declare([subscription])
        await app.service.warm_up()
        consumer = await adapters.bus.consume(subscription, app.service.on_candle)
        adapters.health.ready = True
        await stop.wait()
        await consumer.stop()
    finally:
        await adapters.aclose()


def run() -> None:
    run_service(SERVICE, Edge70ServiceSettings, main)
