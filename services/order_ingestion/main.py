"""order-ingestion entry point: wiring only."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from binance_tool import wiring
from binance_tool.bus.api import MessageBus
from binance_tool.clock import Clock, SystemClock
from binance_tool.exchange.execution import AccountData
from binance_tool.health import Health, HealthServer
from binance_tool.runtime import run_service
from binance_tool.state.order_cursors import OrderCursorStore, RedisOrderCursorStore
from services.order_ingestion.service import GapRelay, OrderIngestionService
from services.order_ingestion.settings import OrderIngestionSettings

SERVICE = "order-ingestion"


@dataclass
class App:
    service: OrderIngestionService
    bus: MessageBus
    health_server: HealthServer
    closers: wiring.Closers = field(default_factory=wiring.Closers)

    async def aclose(self) -> None:
        await self.health_server.stop()
        await self.closers.aclose()


async def build(
    settings: OrderIngestionSettings,
    *,
    bus: MessageBus | None = None,
    account: AccountData | None = None,
    cursors: OrderCursorStore | None = None,
    clock: Clock | None = None,
    gap_relay: GapRelay | None = None,
) -> App:
    """Composition root: tests pass fakes for any part.  A fake `account` that reports stream gaps should be
    built with `on_stream_gap=gap_relay` (the same relay passed here)."""
    closers = wiring.Closers()
    relay = gap_relay or GapRelay()
    bus, redis = await wiring.redis_and_bus(settings, SERVICE, closers, bus=bus, need_redis=cursors is None)
    await bus.declare()
    if account is None:
        from binance_tool.exchange.binance_execution import BinanceSpot

        exchange = BinanceSpot(settings, on_stream_gap=relay)
        closers.add(exchange.close)
        account = exchange
    health = Health()
    service = OrderIngestionService(
        bus,
        account,
        cursors or RedisOrderCursorStore(redis),  # type: ignore[arg-type]
        clock or SystemClock(),
        settings.symbols,
        exchange=settings.order_ingestion_exchange_name,
        account_name=settings.order_ingestion_account,
        health=health,
        replica=settings.order_ingestion_replica_id,
        subscribe_wait_s=settings.order_ingestion_subscribe_wait_s,
    )
    relay.connect(service.on_stream_gap)
    return App(service, bus, HealthServer(health, port=settings.health_port), closers)


async def main(settings: OrderIngestionSettings, stop: asyncio.Event) -> None:
    app = await build(settings)
    await app.health_server.start()
    try:
        await app.service.run(stop)
    finally:
        await app.aclose()


def run() -> None:
    run_service(SERVICE, OrderIngestionSettings, main)
