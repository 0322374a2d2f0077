"""candle-ingestion entry point: wiring only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.exchange.market_data import MarketData
from binance_tool.runtime import run_service
from binance_tool.state.cursors import CandleCursorStore, RedisCandleCursorStore
from services.candle_ingestion.service import CandleIngestionService
from services.candle_ingestion.settings import IngestionSettings

SERVICE = "candle-ingestion"


@dataclass
class App:
    service: CandleIngestionService
    adapters: wiring.Adapters


async def build(
    settings: IngestionSettings,
    *,
    bus: MessageBus | None = None,
    market_data: MarketData | None = None,
    cursors: CandleCursorStore | None = None,
    clock: Clock | None = None,
) -> App:
    """Composition root: tests pass fakes for any part."""
    adapters = await wiring.connect_adapters(
        settings, SERVICE, bus=bus, market_data=market_data, need_redis=cursors is None
    )
    await adapters.bus.declare()
    markets = await wiring.universe(adapters.market_data, settings.ingestion_quote_asset, settings.symbols)
    service = CandleIngestionService(
        adapters.bus,
        adapters.market_data,
        cursors or RedisCandleCursorStore(adapters.require_redis()),
        clock or SystemClock(),
        markets,
        settings.intervals,
        adapters.health,
        settings.ingestion_replica_id,
    )
    return App(service, adapters)


async def main(settings: IngestionSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    await app.adapters.health_server.start()
    try:
        await app.service.run(stop)
    finally:
        await app.adapters.aclose()


def run() -> None:
    run_service(SERVICE, IngestionSettings, main)
