"""Tracker state: tracked orders and positions, each updated atomically (read → pure change → compare-and-set).

`TrackerStore` is the port; `RedisTrackerStore` the adapter (optimistic: one pipelined read, the pure change in
Python, then a Lua compare-and-set that writes only if the value read is still there — two round trips; key layout
in docs/trackers.md) and `InMemoryTrackerStore` the fake for unit tests.  Both store the same JSON, so unit tests
exercise the encoding too.  A change is pure; it may run more than once (after losing a race to another writer).

A position is a small head (the folded `Position`) plus its fills and events in two hashes: an in-order fill reads
and writes O(1) data whatever the position's history; a late fill reads every fill and refolds (see records.py).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, TypeVar

from redis.asyncio import Redis

from binance_tool.events import PositionChanged
from binance_tool.tracking import (
    FillConflict,
    Position,
    PositionFill,
    PositionKey,
    TrackedOrder,
    fold_fill,
    follows,
    position_from_fills,
)
from binance_tool.trading.filters import SymbolFilters
from services.trackers import codec
from services.trackers.records import PositionHead, PositionRecord, fill_from_json, fill_to_json

T = TypeVar("T")
OrderChange = Callable[[TrackedOrder | None], TrackedOrder]
# (position before the fill — None when it had no fill —, after, whether the fill was late: sorted before a fill
# already folded) → the event the fill causes, if any
DecideEvent = Callable[[Position | None, Position, bool], PositionChanged | None]


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


def position_fills_key(key: PositionKey) -> str:
    return f"position-fills:{key.account}:{key.base_asset}:{_edge(key.edge)}"


def position_events_key(key: PositionKey) -> str:
    return f"position-events:{key.account}:{key.base_asset}:{_edge(key.edge)}"


@dataclass(frozen=True)
class FillApplied:
    """What adding one fill did: the position before (None: no fill yet) and after, the event of this fill (the
    one just decided, or the one stored when the fill was already known), and whether the fill was new."""

    before: Position | None
    after: Position
    event: PositionChanged | None
    new: bool


def already_known(head: PositionHead, known: str | bytes, fill: PositionFill, event: str | bytes | None) -> FillApplied:
    """The fill's trade id is stored: nothing changes, its stored event is returned (FillConflict when the stored
    fill has other contents)."""
    stored = fill_from_json(known)
    if stored != fill:
        raise FillConflict(f"trade {fill.trade_id}: two different fills ({stored} vs {fill})")
    decoded = None if event is None else PositionChanged.model_validate_json(event)
    return FillApplied(head.position, head.position, decoded, new=False)


def with_new_fill(
    head: PositionHead, fill: PositionFill, decide: DecideEvent, known: list[PositionFill]
) -> tuple[PositionHead, FillApplied]:
    """The head with a new fill and what that did: one step when the fill follows every fill folded so far, else a
    refold of `known` (every stored fill; only read then — callers pass [] for a fill that `follows`)."""
    before = head.position if head.position.fill_count else None
    late = not follows(head.position, fill)
    if late:
        after = position_from_fills([*known, fill], head.filters, head.prices, edge=head.edge)
    else:
        after = fold_fill(head.position, fill, head.filters, head.prices)
    event = decide(before, after, late)
    return replace(head, position=after), FillApplied(before, after, event, new=True)


def encode_order(order: TrackedOrder) -> str:
    return json.dumps(codec.order_to_dict(order), separators=(",", ":"))


def decode_order(raw: str | bytes) -> TrackedOrder:
    return codec.order_from_dict(json.loads(raw))


class TrackerStore(Protocol):
    async def update_order(
        self, account: str, symbol: str, order_id: int, change: OrderChange
    ) -> tuple[TrackedOrder | None, TrackedOrder]:
        """(before, after); `change` returns the current object itself when nothing changes (no write)."""
        ...

    async def add_position_fill(
        self, key: PositionKey, filters: SymbolFilters, fill: PositionFill, decide: DecideEvent
    ) -> FillApplied:
        """Add one fill to the position (created with `filters` when new) and store the event `decide` gives with
        it, atomically; a fill already known changes nothing and returns its stored event; `FillConflict` when the
        trade id is known with other contents."""
        ...

    async def order(self, account: str, symbol: str, order_id: int) -> TrackedOrder | None: ...

    async def orders(self, account: str, symbol: str) -> list[TrackedOrder]: ...

    async def position(self, key: PositionKey) -> PositionRecord | None: ...

    async def positions(self, account: str, *, with_fills: bool = True) -> list[PositionRecord]: ...


class InMemoryTrackerStore:
    """The fake: dicts of the same JSON strings; an update has no await between read and write, so it is atomic."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}
        self.sets: dict[str, set[str]] = {}
        self.hashes: dict[str, dict[str, str]] = {}
        self.writes = 0

    async def update_order(
        self, account: str, symbol: str, order_id: int, change: OrderChange
    ) -> tuple[TrackedOrder | None, TrackedOrder]:
        key = order_key(account, symbol, order_id)
        raw = self.data.get(key)
        current = None if raw is None else decode_order(raw)
        new = change(current)
        if new is not current:
            self.data[key] = encode_order(new)
            self.sets.setdefault(orders_index_key(account, symbol), set()).add(str(order_id))
            self.writes += 1
        return current, new

    async def add_position_fill(
        self, key: PositionKey, filters: SymbolFilters, fill: PositionFill, decide: DecideEvent
    ) -> FillApplied:
        fills = self.hashes.setdefault(position_fills_key(key), {})
        events = self.hashes.setdefault(position_events_key(key), {})
        raw = self.data.get(position_key(key))
        head = PositionHead.new(key, filters) if raw is None else PositionHead.from_json(raw)
        tid = str(fill.trade_id)
        if tid in fills:
            return already_known(head, fills[tid], fill, events.get(tid))
        known = [] if follows(head.position, fill) else [fill_from_json(f) for f in fills.values()]
        new_head, applied = with_new_fill(head, fill, decide, known)
        self.data[position_key(key)] = new_head.to_json()
        fills[tid] = fill_to_json(fill)
        if applied.event is not None:
            events[tid] = applied.event.model_dump_json()
        self.sets.setdefault(positions_index_key(key.account), set()).add(position_member(key))
        self.writes += 1
        return applied

    async def order(self, account: str, symbol: str, order_id: int) -> TrackedOrder | None:
        raw = self.data.get(order_key(account, symbol, order_id))
        return None if raw is None else decode_order(raw)

    async def orders(self, account: str, symbol: str) -> list[TrackedOrder]:
        ids = sorted(int(i) for i in self.sets.get(orders_index_key(account, symbol), set()))
        return [decode_order(self.data[order_key(account, symbol, i)]) for i in ids]

    def _record(self, key: PositionKey, raw: str, with_fills: bool) -> PositionRecord:
        head = PositionHead.from_json(raw)
        if not with_fills:
            return PositionRecord(head)
        fills = {int(t): fill_from_json(f) for t, f in self.hashes.get(position_fills_key(key), {}).items()}
        events = {int(t): e for t, e in self.hashes.get(position_events_key(key), {}).items()}
        return PositionRecord(head, dict(sorted(fills.items())), dict(sorted(events.items())))

    async def position(self, key: PositionKey) -> PositionRecord | None:
        raw = self.data.get(position_key(key))
        return None if raw is None else self._record(key, raw, True)

    async def positions(self, account: str, *, with_fills: bool = True) -> list[PositionRecord]:
        out = []
        for member in sorted(self.sets.get(positions_index_key(account), set())):
            raw = self.data.get(f"positions:{account}:{member}")
            if raw is not None:
                head = PositionHead.from_json(raw)
                out.append(self._record(head.key, raw, with_fills))
        return out


# Compare-and-set: write only if KEYS[1] still holds ARGV[1] ('' = absent).  KEYS[2] is an index set (SADD
# ARGV[3]); with KEYS[3..4] (a position's fills and events hashes) also HSET field ARGV[4] = ARGV[5] in KEYS[3]
# and, when ARGV[6] is not empty, ARGV[4] = ARGV[6] in KEYS[4].  Returns 1 when written, 0 when the value moved.
_CAS = """
local current = redis.call('GET', KEYS[1])
if current == false then current = '' end
if current ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2])
redis.call('SADD', KEYS[2], ARGV[3])
if #KEYS >= 4 then
  redis.call('HSET', KEYS[3], ARGV[4], ARGV[5])
  if ARGV[6] ~= '' then redis.call('HSET', KEYS[4], ARGV[4], ARGV[6]) end
end
return 1
"""


def _text(raw: str | bytes | None) -> str:
    return "" if raw is None else raw.decode() if isinstance(raw, bytes) else raw


class RedisTrackerStore:
    """Redis adapter: read (one pipelined round trip) → pure change → Lua compare-and-set (one round trip),
    retried when another writer changed the value in between (optimistic concurrency)."""

    def __init__(self, redis: Redis, max_attempts: int = 100) -> None:
        self._r = redis
        self._max_attempts = max_attempts
        self._cas = redis.register_script(_CAS)
        self.conflicts = 0  # lost optimistic races (retried), for tests and metrics

    async def update_order(
        self, account: str, symbol: str, order_id: int, change: OrderChange
    ) -> tuple[TrackedOrder | None, TrackedOrder]:
        key, index = order_key(account, symbol, order_id), orders_index_key(account, symbol)
        for _ in range(self._max_attempts):
            raw = _text(await self._r.get(key))
            current = decode_order(raw) if raw else None
            new = change(current)
            if new is current:
                return current, new
            if await self._cas(keys=[key, index], args=[raw, encode_order(new), str(order_id)]):
                return current, new
            self.conflicts += 1
        raise ContentionError(f"{key}: {self._max_attempts} conflicting concurrent updates in a row")

    async def add_position_fill(
        self, key: PositionKey, filters: SymbolFilters, fill: PositionFill, decide: DecideEvent
    ) -> FillApplied:
        head_key, fills_key, events_key = position_key(key), position_fills_key(key), position_events_key(key)
        tid = str(fill.trade_id)
        for _ in range(self._max_attempts):
            async with self._r.pipeline(transaction=False) as pipe:
                pipe.get(head_key)
                pipe.hget(fills_key, tid)
                raw_head, raw_known = await pipe.execute()
            raw = _text(raw_head)
            head = PositionHead.from_json(raw) if raw else PositionHead.new(key, filters)
            if raw_known is not None:
                return already_known(head, raw_known, fill, await self._r.hget(events_key, tid))
            known = (
                []
                if follows(head.position, fill)
                else [fill_from_json(f) for f in (await self._r.hgetall(fills_key)).values()]
            )
            new_head, applied = with_new_fill(head, fill, decide, known)
            event = "" if applied.event is None else applied.event.model_dump_json()
            args = [raw, new_head.to_json(), position_member(key), tid, fill_to_json(fill), event]
            if await self._cas(keys=[head_key, positions_index_key(key.account), fills_key, events_key], args=args):
                return applied
            self.conflicts += 1
        raise ContentionError(f"{head_key}: {self._max_attempts} conflicting concurrent updates in a row")

    async def order(self, account: str, symbol: str, order_id: int) -> TrackedOrder | None:
        raw = await self._r.get(order_key(account, symbol, order_id))
        return None if raw is None else decode_order(raw)

    async def orders(self, account: str, symbol: str) -> list[TrackedOrder]:
        ids = sorted(int(i) for i in await self._r.smembers(orders_index_key(account, symbol)))
        if not ids:
            return []
        raws = await self._r.mget([order_key(account, symbol, i) for i in ids])
        return [decode_order(raw) for raw in raws if raw is not None]

    async def _records(self, heads: list[PositionHead], with_fills: bool) -> list[PositionRecord]:
        if not with_fills or not heads:
            return [PositionRecord(h) for h in heads]
        async with self._r.pipeline(transaction=False) as pipe:
            for h in heads:
                pipe.hgetall(position_fills_key(h.key))
                pipe.hgetall(position_events_key(h.key))
            raws = await pipe.execute()
        out = []
        for i, h in enumerate(heads):
            fills = {int(t): fill_from_json(f) for t, f in raws[2 * i].items()}
            events = {int(t): _text(e) for t, e in raws[2 * i + 1].items()}
            out.append(PositionRecord(h, dict(sorted(fills.items())), dict(sorted(events.items()))))
        return out

    async def position(self, key: PositionKey) -> PositionRecord | None:
        raw = await self._r.get(position_key(key))
        return None if raw is None else (await self._records([PositionHead.from_json(raw)], True))[0]

    async def positions(self, account: str, *, with_fills: bool = True) -> list[PositionRecord]:
        members = sorted(
            m.decode() if isinstance(m, bytes) else m for m in await self._r.smembers(positions_index_key(account))
        )
        if not members:
            return []
        raws = await self._r.mget([f"positions:{account}:{m}" for m in members])
        heads = [PositionHead.from_json(raw) for raw in raws if raw is not None]
        return await self._records(heads, with_fills)
