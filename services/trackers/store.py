"""Tracker state: tracked orders and position records, each updated atomically (read → pure change → write).

`TrackerStore` is the port; `RedisTrackerStore` the adapter (WATCH/MULTI optimistic transactions, key layout in
docs/trackers.md) and `InMemoryTrackerStore` the fake for unit tests.  Both store the same JSON, so unit tests
exercise the encoding too.  `change` is a pure function of the current value; it may be called more than once
(on a conflicting concurrent write) and returns the current object itself when nothing changes (no write).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Protocol, TypeVar

from redis.asyncio import Redis
from redis.exceptions import WatchError

from binance_tool.tracking import PositionKey, TrackedOrder
from services.trackers import codec
from services.trackers.records import PositionRecord

T = TypeVar("T")
OrderChange = Callable[[TrackedOrder | None], TrackedOrder]
PositionChange = Callable[[PositionRecord | None], PositionRecord]


class ContentionError(RuntimeError):
    """An optimistic update lost the race too many times in a row (the message is redelivered)."""


def _edge(edge: str | None) -> str:
    return edge or "-"


def order_key(account: str, symbol: str, order_id: int) -> str:
    return f"orders:{account}:{symbol}:{order_id}"


def orders_index_key(account: str, symbol: str) -> str:
    return f"orders-index:{account}:{symbol}"


def position_key(key: PositionKey) -> str:
    return f"positions:{key.account}:{key.base_asset}:{_edge(key.edge)}"


def positions_index_key(account: str) -> str:
    return f"positions-index:{account}"


def position_member(key: PositionKey) -> str:
    return f"{key.base_asset}:{_edge(key.edge)}"


def encode_order(order: TrackedOrder) -> str:
    return json.dumps(codec.order_to_dict(order), separators=(",", ":"))


def decode_order(raw: str | bytes) -> TrackedOrder:
    return codec.order_from_dict(json.loads(raw))


class TrackerStore(Protocol):
    async def update_order(
        self, account: str, symbol: str, order_id: int, change: OrderChange
    ) -> tuple[TrackedOrder | None, TrackedOrder]: ...

    async def update_position(
        self, key: PositionKey, change: PositionChange
    ) -> tuple[PositionRecord | None, PositionRecord]: ...

    async def order(self, account: str, symbol: str, order_id: int) -> TrackedOrder | None: ...

    async def orders(self, account: str, symbol: str) -> list[TrackedOrder]: ...

    async def position(self, key: PositionKey) -> PositionRecord | None: ...

    async def positions(self, account: str) -> list[PositionRecord]: ...


class InMemoryTrackerStore:
    """The fake: a dict of the same JSON strings; an update has no await between read and write, so it is atomic."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.sets: dict[str, set[str]] = {}
        self.writes = 0

    def _update(
        self,
        key: str,
        index: str,
        member: str,
        decode: Callable[[str | bytes], T],
        encode: Callable[[T], str],
        change: Callable[[T | None], T],
    ) -> tuple[T | None, T]:
        raw = self.data.get(key)
        current = None if raw is None else decode(raw)
        new = change(current)
        if new is not current:
            self.data[key] = encode(new)
            self.sets.setdefault(index, set()).add(member)
            self.writes += 1
        return current, new

    async def update_order(
        self, account: str, symbol: str, order_id: int, change: OrderChange
    ) -> tuple[TrackedOrder | None, TrackedOrder]:
        key, index = order_key(account, symbol, order_id), orders_index_key(account, symbol)
        return self._update(key, index, str(order_id), decode_order, encode_order, change)

    async def update_position(
        self, key: PositionKey, change: PositionChange
    ) -> tuple[PositionRecord | None, PositionRecord]:
        return self._update(
            position_key(key),
            positions_index_key(key.account),
            position_member(key),
            PositionRecord.from_json,
            PositionRecord.to_json,
            change,
        )

    async def order(self, account: str, symbol: str, order_id: int) -> TrackedOrder | None:
        raw = self.data.get(order_key(account, symbol, order_id))
        return None if raw is None else decode_order(raw)

    async def orders(self, account: str, symbol: str) -> list[TrackedOrder]:
        ids = sorted(int(i) for i in self.sets.get(orders_index_key(account, symbol), set()))
        return [decode_order(self.data[order_key(account, symbol, i)]) for i in ids]

    async def position(self, key: PositionKey) -> PositionRecord | None:
        raw = self.data.get(position_key(key))
        return None if raw is None else PositionRecord.from_json(raw)

    async def positions(self, account: str) -> list[PositionRecord]:
        out = []
        for member in sorted(self.sets.get(positions_index_key(account), set())):
            raw = self.data.get(f"positions:{account}:{member}")
            if raw is not None:
                out.append(PositionRecord.from_json(raw))
        return out


class RedisTrackerStore:
    """Redis adapter: each update is a WATCH/GET → pure change → MULTI SET + SADD index → EXEC transaction,
    retried when another writer touched the key in between (optimistic concurrency)."""

    def __init__(self, redis: Redis, max_attempts: int = 100) -> None:
        self._r = redis
        self._max_attempts = max_attempts
        self.conflicts = 0  # lost optimistic races (retried), for tests and metrics

    async def _update(
        self,
        key: str,
        index: str,
        member: str,
        decode: Callable[[str | bytes], T],
        encode: Callable[[T], str],
        change: Callable[[T | None], T],
    ) -> tuple[T | None, T]:
        async with self._r.pipeline(transaction=True) as pipe:
            for _ in range(self._max_attempts):
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    current = None if raw is None else decode(raw)
                    new = change(current)
                    if new is current:
                        await pipe.unwatch()  # type: ignore[no-untyped-call]
                        return current, new
                    pipe.multi()  # type: ignore[no-untyped-call]
                    pipe.set(key, encode(new))
                    pipe.sadd(index, member)
                    await pipe.execute()
                    return current, new
                except WatchError:
                    self.conflicts += 1
                    continue
        raise ContentionError(f"{key}: {self._max_attempts} conflicting concurrent updates in a row")

    async def update_order(
        self, account: str, symbol: str, order_id: int, change: OrderChange
    ) -> tuple[TrackedOrder | None, TrackedOrder]:
        key, index = order_key(account, symbol, order_id), orders_index_key(account, symbol)
        return await self._update(key, index, str(order_id), decode_order, encode_order, change)

    async def update_position(
        self, key: PositionKey, change: PositionChange
    ) -> tuple[PositionRecord | None, PositionRecord]:
        return await self._update(
            position_key(key),
            positions_index_key(key.account),
            position_member(key),
            PositionRecord.from_json,
            PositionRecord.to_json,
            change,
        )

    async def order(self, account: str, symbol: str, order_id: int) -> TrackedOrder | None:
        raw = await self._r.get(order_key(account, symbol, order_id))
        return None if raw is None else decode_order(raw)

    async def orders(self, account: str, symbol: str) -> list[TrackedOrder]:
        ids = sorted(int(i) for i in await self._r.smembers(orders_index_key(account, symbol)))
        if not ids:
            return []
        raws = await self._r.mget([order_key(account, symbol, i) for i in ids])
        return [decode_order(raw) for raw in raws if raw is not None]

    async def position(self, key: PositionKey) -> PositionRecord | None:
        raw = await self._r.get(position_key(key))
        return None if raw is None else PositionRecord.from_json(raw)

    async def positions(self, account: str) -> list[PositionRecord]:
        members = sorted(
            m.decode() if isinstance(m, bytes) else m for m in await self._r.smembers(positions_index_key(account))
        )
        if not members:
            return []
        raws = await self._r.mget([f"positions:{account}:{m}" for m in members])
        return [PositionRecord.from_json(raw) for raw in raws if raw is not None]
