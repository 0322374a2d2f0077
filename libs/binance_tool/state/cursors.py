"""Per-market cursors: the newest closed candle published, shared by ingestion replicas.

Redis key `ingestion:last-closed:<interval>:<SYMBOL>` = open time (ms); only ever moves forward (Lua max).
"""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis

_ADVANCE = """
local cur = redis.call('GET', KEYS[1])
if (not cur) or tonumber(ARGV[1]) > tonumber(cur) then
  redis.call('SET', KEYS[1], ARGV[1])
  return 1
end
return 0
"""


class CandleCursorStore(Protocol):
    async def get(self, interval: str, symbol: str) -> int | None: ...

    async def advance(self, interval: str, symbol: str, open_time_ms: int) -> bool:
        """Set the cursor to open_time_ms if that is newer; True if it moved."""


def cursor_key(interval: str, symbol: str) -> str:
    return f"ingestion:last-closed:{interval}:{symbol}"


class RedisCandleCursorStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._advance = redis.register_script(_ADVANCE)

    async def get(self, interval: str, symbol: str) -> int | None:
        value = await self._redis.get(cursor_key(interval, symbol))
        return int(value) if value is not None else None

    async def advance(self, interval: str, symbol: str, open_time_ms: int) -> bool:
        return bool(await self._advance(keys=[cursor_key(interval, symbol)], args=[open_time_ms]))


class InMemoryCandleCursorStore:
    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    async def get(self, interval: str, symbol: str) -> int | None:
        return self.values.get(cursor_key(interval, symbol))

    async def advance(self, interval: str, symbol: str, open_time_ms: int) -> bool:
        key = cursor_key(interval, symbol)
        if key not in self.values or open_time_ms > self.values[key]:
            self.values[key] = open_time_ms
            return True
        return False
