"""Persisted edge70 state per (edge, parameters, market): direction and the last evaluated candle.

Redis hash `edge70:<long>L<short>S:<SYMBOL>` with fields `direction` (long|short, absent when unknown) and
`last_open_time_ms`; the key's TTL is refreshed on every evaluated candle, so a market whose candles stop
(delisted, dead) fades out.  When the key is gone the service re-seeds the direction from REST history.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

from binance_tool.edge70.rules import LONG, NONE, SHORT

_NAMES = {LONG: "long", SHORT: "short"}
_CODES = {"long": LONG, "short": SHORT}


@dataclass(frozen=True)
class MarketState:
    direction: int
    last_open_time_ms: int


class Edge70StateStore(Protocol):
    async def load(self, slug: str, symbol: str) -> MarketState | None: ...

    async def save(self, slug: str, symbol: str, state: MarketState, ttl_s: int) -> None: ...


def state_key(slug: str, symbol: str) -> str:
    return f"edge70:{slug}:{symbol}"


class RedisEdge70StateStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def load(self, slug: str, symbol: str) -> MarketState | None:
        raw = await self._redis.hgetall(state_key(slug, symbol))
        if not raw:
            return None
        fields = {
            k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in raw.items()
        }
        direction = fields.get("direction", "")
        if direction and direction not in _CODES:
            raise ValueError(f"{state_key(slug, symbol)}: direction {direction!r} not recognised")
        return MarketState(_CODES.get(direction, NONE), int(fields["last_open_time_ms"]))

    async def save(self, slug: str, symbol: str, state: MarketState, ttl_s: int) -> None:
        key = state_key(slug, symbol)
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, "last_open_time_ms", state.last_open_time_ms)
            if state.direction == NONE:
                pipe.hdel(key, "direction")
            else:
                pipe.hset(key, "direction", _NAMES[state.direction])
            pipe.expire(key, ttl_s)
            await pipe.execute()


class InMemoryEdge70StateStore:
    def __init__(self) -> None:
        self.values: dict[str, MarketState] = {}

    async def load(self, slug: str, symbol: str) -> MarketState | None:
        return self.values.get(state_key(slug, symbol))

    async def save(self, slug: str, symbol: str, state: MarketState, ttl_s: int) -> None:
        self.values[state_key(slug, symbol)] = state
