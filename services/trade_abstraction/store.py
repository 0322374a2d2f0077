"""The Trade Abstraction Service's state: one trade record per (edge, symbol) position, and idempotency records.

Redis layout (documented in docs/trade-abstraction.md):
- `tas:trade:<trade_id>`            JSON of `TradeRecord` (no expiry while active; 30 days after it ends)
- `tas:active:<edge>:<symbol>`      trade id of the active trade (SET NX: one active trade per edge and market)
- `tas:trades:active`               set of active trade ids (the protector's sweep)
- `tas:idem:<principal>:<key>`      JSON of the stored response (`{"state": "in-progress"}` while executing), 7 days
"""

from __future__ import annotations

import json
from decimal import Decimal
from enum import StrEnum
from typing import Protocol

from pydantic import BaseModel, ConfigDict
from redis.asyncio import Redis

IDEMPOTENCY_TTL_S = 7 * 24 * 3600
ENDED_TTL_S = 30 * 24 * 3600


class TradeState(StrEnum):
    ENTERING = "ENTERING"  # entry order working (or its outcome unknown)
    OPEN = "OPEN"  # entry finished with a filled quantity; protected by a stop
    CLOSED = "CLOSED"
    NOT_ENTERED = "NOT_ENTERED"  # entry rejected, or nothing filled before the timeout


class TradeRecord(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    trade_id: str
    edge: str
    symbol: str
    base_asset: str
    quote_asset: str
    signal_id: str
    state: TradeState = TradeState.ENTERING
    created_ms: int
    entry_deadline_ms: int
    entry_client_id: str
    entry_order_id: int | None = None
    entry_status: str = "PENDING"  # exchange order status, or PENDING / UNKNOWN before we know
    entry_qty: Decimal
    entry_limit: Decimal
    executed_qty: Decimal = Decimal(0)
    executed_quote: Decimal = Decimal(0)
    stop_version: int = 0
    stop_client_id: str | None = None
    stop_price: Decimal | None = None
    stop_limit: Decimal | None = None
    stop_qty: Decimal = Decimal(0)
    exit_client_id: str | None = None
    exit_qty: Decimal = Decimal(0)
    # commission the entry's trades paid in the base asset, read from myTrades when `executed_qty` was this
    entry_base_fee: Decimal = Decimal(0)
    entry_base_fee_for: Decimal = Decimal(0)
    exit_quote: Decimal = Decimal(0)
    closed_ms: int | None = None
    note: str = ""

    @property
    def average_entry(self) -> Decimal | None:
        return self.executed_quote / self.executed_qty if self.executed_qty else None

    @property
    def active(self) -> bool:
        return self.state in (TradeState.ENTERING, TradeState.OPEN)


class TradeStore(Protocol):
    async def claim(self, record: TradeRecord) -> str | None:
        """Make `record` the active trade of its (edge, symbol); returns the existing active trade id instead
        when there is one (nothing is written then)."""
        ...

    async def active(self, edge: str, symbol: str) -> TradeRecord | None: ...

    async def get(self, trade_id: str) -> TradeRecord | None: ...

    async def save(self, record: TradeRecord) -> None:
        """Store the record; an ended record (closed / not entered) releases its (edge, symbol)."""
        ...

    async def active_trades(self) -> list[TradeRecord]: ...

    async def idempotency_begin(self, scope: str, key: str) -> dict[str, object] | None:
        """Mark the key in progress; returns the stored entry instead when the key was seen before."""
        ...

    async def idempotency_finish(self, scope: str, key: str, status_code: int, body: dict[str, object]) -> None: ...

    async def idempotency_abandon(self, scope: str, key: str) -> None: ...


_CLAIM = """
if redis.call('SET', KEYS[1], ARGV[1], 'NX') then
  redis.call('SET', KEYS[2], ARGV[2])
  redis.call('SADD', KEYS[3], ARGV[1])
  return false
end
return redis.call('GET', KEYS[1])
"""


class RedisTradeStore:
    def __init__(self, redis: Redis) -> None:
        self._r = redis
        self._claim = redis.register_script(_CLAIM)

    async def claim(self, record: TradeRecord) -> str | None:
        current = await self._claim(  # one atomic round trip: claim the market, store the record, list it
            keys=[f"tas:active:{record.edge}:{record.symbol}", f"tas:trade:{record.trade_id}", "tas:trades:active"],
            args=[record.trade_id, record.model_dump_json()],
        )
        if current is None:
            return None
        return current.decode() if isinstance(current, bytes) else str(current)

    async def active(self, edge: str, symbol: str) -> TradeRecord | None:
        trade_id = await self._r.get(f"tas:active:{edge}:{symbol}")
        if trade_id is None:
            return None
        return await self.get(trade_id.decode() if isinstance(trade_id, bytes) else str(trade_id))

    async def get(self, trade_id: str) -> TradeRecord | None:
        raw = await self._r.get(f"tas:trade:{trade_id}")
        return None if raw is None else TradeRecord.model_validate_json(raw)

    async def save(self, record: TradeRecord) -> None:
        key = f"tas:trade:{record.trade_id}"
        async with self._r.pipeline(transaction=True) as pipe:
            if record.active:
                pipe.set(key, record.model_dump_json())
                pipe.sadd("tas:trades:active", record.trade_id)
            else:
                pipe.set(key, record.model_dump_json(), ex=ENDED_TTL_S)
                pipe.srem("tas:trades:active", record.trade_id)
                pipe.delete(f"tas:active:{record.edge}:{record.symbol}")
            await pipe.execute()

    async def active_trades(self) -> list[TradeRecord]:
        ids = sorted(
            i.decode() if isinstance(i, bytes) else str(i) for i in await self._r.smembers("tas:trades:active")
        )
        records = [await self.get(i) for i in ids]
        return [r for r in records if r is not None and r.active]

    async def idempotency_begin(self, scope: str, key: str) -> dict[str, object] | None:
        k = f"tas:idem:{scope}:{key}"
        if await self._r.set(k, '{"state": "in-progress"}', nx=True, ex=IDEMPOTENCY_TTL_S):
            return None
        raw = await self._r.get(k)
        return {"state": "in-progress"} if raw is None else _loads(raw)

    async def idempotency_finish(self, scope: str, key: str, status_code: int, body: dict[str, object]) -> None:
        entry = {"state": "done", "status_code": status_code, "body": body}
        await self._r.set(f"tas:idem:{scope}:{key}", json.dumps(entry, default=str), ex=IDEMPOTENCY_TTL_S)

    async def idempotency_abandon(self, scope: str, key: str) -> None:
        await self._r.delete(f"tas:idem:{scope}:{key}")


def _loads(raw: bytes | str) -> dict[str, object]:
    value = json.loads(raw)
    return value if isinstance(value, dict) else {"state": "in-progress"}


class InMemoryTradeStore:
    """The same contract in memory (unit tests)."""

    def __init__(self) -> None:
        self.trades: dict[str, TradeRecord] = {}
        self.active_ids: dict[tuple[str, str], str] = {}
        self.idempotency: dict[str, dict[str, object]] = {}

    async def claim(self, record: TradeRecord) -> str | None:
        existing = self.active_ids.get((record.edge, record.symbol))
        if existing is not None:
            return existing
        self.active_ids[(record.edge, record.symbol)] = record.trade_id
        await self.save(record)
        return None

    async def active(self, edge: str, symbol: str) -> TradeRecord | None:
        trade_id = self.active_ids.get((edge, symbol))
        return None if trade_id is None else await self.get(trade_id)

    async def get(self, trade_id: str) -> TradeRecord | None:
        record = self.trades.get(trade_id)
        return None if record is None else record.model_copy(deep=True)

    async def save(self, record: TradeRecord) -> None:
        self.trades[record.trade_id] = record.model_copy(deep=True)
        if not record.active and self.active_ids.get((record.edge, record.symbol)) == record.trade_id:
            del self.active_ids[(record.edge, record.symbol)]

    async def active_trades(self) -> list[TradeRecord]:
        return [r.model_copy(deep=True) for i, r in sorted(self.trades.items()) if r.active]

    async def idempotency_begin(self, scope: str, key: str) -> dict[str, object] | None:
        k = f"{scope}:{key}"
        if k in self.idempotency:
            return self.idempotency[k]
        self.idempotency[k] = {"state": "in-progress"}
        return None

    async def idempotency_finish(self, scope: str, key: str, status_code: int, body: dict[str, object]) -> None:
        self.idempotency[f"{scope}:{key}"] = {"state": "done", "status_code": status_code, "body": body}

    async def idempotency_abandon(self, scope: str, key: str) -> None:
        self.idempotency.pop(f"{scope}:{key}", None)
