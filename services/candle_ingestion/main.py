"""candle-ingestion entry point: wiring only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.exchange.market_data import MarketData
from binance_tool.health import Health, HealthServer
from binance_tool.runtime import run_service
from binance_tool.state.cursors import CandleCursorStore, RedisCandleCursorStore
from services.candle_ingestion.service import CandleIngestionService
from services.candle_ingestion.settings import IngestionSettings

SERVICE = "candle-ingestion"


@dataclass
class App:
    service: CandleIngestionService
    bus: MessageBus
    market_data: MarketData
    health_server: HealthServer
    closers: list[Any]


async def build(
    settings: IngestionSettings,
    *,
    bus: MessageBus | None = None,
    market_data: MarketData | None = None,
    cursors: CandleCursorStore | None = None,
    clock: Clock | None = None,
) -> App:
    """Composition root: tests pass fakes for any part."""
    closers: list[Any] = []
    redis = None
    if bus is None or cursors is None:
        redis = wiring.redis_client(settings)
        closers.append(redis)
    bus = bus or wiring.amqp_bus(settings, redis, SERVICE)  # type: ignore[arg-type]
    md = market_data or wiring.market_data(settings)
    await bus.connect()
    await bus.declare()
    markets = await wiring.universe(md, settings.ingestion_quote_asset, settings.symbols)
    health = Health()
    service = CandleIngestionService(
        bus,
        md,
        cursors or RedisCandleCursorStore(redis),  # type: ignore[arg-type]
        clock or SystemClock(),
        markets,
        settings.intervals,
        health,
        settings.ingestion_replica_id,
    )
    return App(service, bus, md, HealthServer(health, port=settings.health_port), closers)


async def main(settings: IngestionSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    await app.health_server.start()
    try:
        await app.service.run(stop)
    finally:
        await app.health_server.stop()
        await app.bus.close()
        await app.market_data.close()
        for c in app.closers:
            await c.aclose()


def run() -> None:
    run_service(SERVICE, IngestionSettings, main)
