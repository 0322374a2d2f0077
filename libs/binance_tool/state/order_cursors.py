"""Per-symbol cursors of the order-stream ingestion, shared by its replicas: where the next REST back-fill starts.

Redis hash `order-ingestion:cursor:<account>:<SYMBOL>`, two fields, each only ever moving forward (Lua max):
- `order_id`  the lowest order id that may still change: `allOrders` is read from it (inclusive).  After a
              back-fill it is the lowest id still open, or the highest id seen + 1 when none is open; exchange
              order ids only grow, so an order below it is final and need not be read again.
- `trade_id`  the highest trade id published: `myTrades` is read from it + 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis

_ADVANCE = """
local cur = redis.call('HGET', KEYS[1], ARGV[1])
if (not cur) or tonumber(ARGV[2]) > tonumber(cur) then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  return 1
end
return 0
"""

ORDER_FIELD = "order_id"
TRADE_FIELD = "trade_id"


@dataclass(frozen=True)
class OrderCursor:
    order_id: int | None = None  # lowest order id that may still change (read allOrders from here)
    trade_id: int | None = None  # highest trade id published (read myTrades after it)


class OrderCursorStore(Protocol):
    async def get(self, account: str, symbol: str) -> OrderCursor: ...

    async def advance(
        self, account: str, symbol: str, *, order_id: int | None = None, trade_id: int | None = None
    ) -> bool:
        """Move each given field forward (never back); True if any moved."""
        ...


def order_cursor_key(account: str, symbol: str) -> str:
    return f"order-ingestion:cursor:{account}:{symbol}"


def _int(value: bytes | str | None) -> int | None:
    return int(value) if value is not None else None


class RedisOrderCursorStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis
        self._advance = redis.register_script(_ADVANCE)

    async def get(self, account: str, symbol: str) -> OrderCursor:
        order_id, trade_id = await self._redis.hmget(order_cursor_key(account, symbol), [ORDER_FIELD, TRADE_FIELD])
        return OrderCursor(_int(order_id), _int(trade_id))

    async def advance(
        self, account: str, symbol: str, *, order_id: int | None = None, trade_id: int | None = None
    ) -> bool:
        key = order_cursor_key(account, symbol)
        moved = False
        for name, value in ((ORDER_FIELD, order_id), (TRADE_FIELD, trade_id)):
            if value is not None:
                moved = bool(await self._advance(keys=[key], args=[name, value])) or moved
        return moved


class InMemoryOrderCursorStore:
    def __init__(self) -> None:
        self.values: dict[tuple[str, str], int] = {}  # (key, field) -> value

    async def get(self, account: str, symbol: str) -> OrderCursor:
        key = order_cursor_key(account, symbol)
        return OrderCursor(self.values.get((key, ORDER_FIELD)), self.values.get((key, TRADE_FIELD)))

    async def advance(
        self, account: str, symbol: str, *, order_id: int | None = None, trade_id: int | None = None
    ) -> bool:
        key = order_cursor_key(account, symbol)
        moved = False
        for name, value in ((ORDER_FIELD, order_id), (TRADE_FIELD, trade_id)):
            if value is not None and ((key, name) not in self.values or value > self.values[(key, name)]):
                self.values[(key, name)] = value
                moved = True
        return moved
