"""Builders for the real adapters, shared by the services' composition roots."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from redis.asyncio import Redis

from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import MessageBus
from binance_tool.config import BusSettings, RedisSettings
from binance_tool.events import Market
from binance_tool.exchange.binance_market import BinanceMarketData
from binance_tool.exchange.market_data import MarketData
from binance_tool.health import Health, HealthServer
from binance_tool.market.universe import spot_universe
from binance_tool.state.idempotency import RedisIdempotencyStore


def redis_client(settings: RedisSettings) -> Redis:
    return Redis.from_url(settings.redis_url.get_secret_value())


def amqp_bus(settings: BusSettings, redis: Redis, service: str, batch_window_s: float = 0.002) -> AmqpBus:
    """`batch_window_s`: how long a consumer waits after a first delivery to batch more (0 for latency-bound ones)."""
    return AmqpBus(settings, RedisIdempotencyStore(redis), service, batch_window_s=batch_window_s)


async def universe(md: MarketData, quote_asset: str, only: list[str] | None) -> list[Market]:
    """The markets to follow; an unknown symbol in `only` fails start-up with its name."""
    return spot_universe(await md.exchange_info(), quote_asset, only)


if TYPE_CHECKING:
    from binance_tool.exchange.binance_execution import BinanceSpot


@dataclass
class Adapters:
    """What every service's composition root connects and later disposes of: the bus, the exchange's market
    data, Redis (when a real adapter needs it) and the health endpoint."""

    bus: MessageBus
    market_data: MarketData
    redis: Redis | None
    health: Health
    health_server: HealthServer

    def require_redis(self) -> Redis:
        if self.redis is None:
            raise RuntimeError("a Redis-backed adapter was asked for but Redis was not connected")
        return self.redis

    async def aclose(self) -> None:
        await self.health_server.stop()
        await self.bus.close()
        await self.market_data.close()
        if self.redis is not None:
            await self.redis.aclose()


async def connect_adapters(
    settings: Any,
    service: str,
    *,
    bus: MessageBus | None,
    market_data: MarketData | None,
    need_redis: bool,
) -> Adapters:
    """Real adapters for whatever the caller did not pass in (tests pass fakes); the bus is connected.

    `settings` must combine BusSettings, RedisSettings, ExchangeSettings and ObservabilitySettings."""
    redis = redis_client(settings) if bus is None or need_redis else None
    if bus is None:
        assert redis is not None
        bus = amqp_bus(settings, redis, service)
    health = Health()
    adapters = Adapters(
        bus, market_data or BinanceMarketData(settings), redis, health, HealthServer(health, port=settings.health_port)
    )
    await bus.connect()
    return adapters


async def spot_exchange(settings: Any, closers: Closers | None = None) -> BinanceSpot:
    """The spot execution + account adapter for `settings` (an ExchangeSettings): simulator, testnet or Binance;
    closed with the composition root's `closers` when given."""
    from binance_tool.exchange.binance_execution import BinanceSpot as _BinanceSpot

    exchange = _BinanceSpot(settings)
    if closers is not None:
        closers.add(exchange.close)
    return exchange


class Closers:
    """What a composition root opened, closed in reverse order; one failing close does not stop the others."""

    def __init__(self) -> None:
        self._closers: list[Callable[[], Awaitable[object]]] = []

    def add(self, closer: Callable[[], Awaitable[object]]) -> None:
        self._closers.append(closer)

    async def aclose(self) -> None:
        for closer in reversed(self._closers):
            with contextlib.suppress(Exception):
                await closer()


async def redis_and_bus(
    settings: Any,
    service: str,
    closers: Closers,
    *,
    bus: MessageBus | None,
    need_redis: bool,
    batch_window_s: float = 0.002,
) -> tuple[MessageBus, Redis | None]:
    """The bus (the caller's, or AMQP, connected) and Redis when the bus or another Redis-backed part is to be
    built here; what is opened is registered on `closers`.  `settings` combines BusSettings and RedisSettings."""
    redis = redis_client(settings) if bus is None or need_redis else None
    if redis is not None:
        closers.add(redis.aclose)
    if bus is None:
        assert redis is not None
        amqp = amqp_bus(settings, redis, service, batch_window_s)
        await amqp.connect()
        closers.add(amqp.close)
        bus = amqp
    return bus, redis
