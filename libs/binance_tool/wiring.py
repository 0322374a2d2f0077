"""Builders for the real adapters, shared by the services' composition roots."""

from __future__ import annotations

from redis.asyncio import Redis

from binance_tool.bus.amqp import AmqpBus
from binance_tool.config import BusSettings, ExchangeSettings, RedisSettings
from binance_tool.events import Market
from binance_tool.exchange.binance_market import BinanceMarketData
from binance_tool.exchange.market_data import MarketData
from binance_tool.market.universe import spot_universe
from binance_tool.state.idempotency import RedisIdempotencyStore


def redis_client(settings: RedisSettings) -> Redis:
    return Redis.from_url(settings.redis_url.get_secret_value())


def amqp_bus(settings: BusSettings, redis: Redis, service: str) -> AmqpBus:
    return AmqpBus(settings, RedisIdempotencyStore(redis), service)


def market_data(settings: ExchangeSettings) -> BinanceMarketData:
    return BinanceMarketData(settings)


async def universe(md: MarketData, quote_asset: str, only: list[str] | None) -> list[Market]:
    """The markets to follow; an unknown symbol in `only` fails start-up with its name."""
    return spot_universe(await md.exchange_info(), quote_asset, only)
