"""Edge-performance state: the `PerformanceStore` port, Redis (WATCH/MULTI) and in-memory (fake) adapters.

Redis layout (`<p>` = `PERFORMANCE_KEY_PREFIX`, default `performance`; values JSON, Decimals as strings, no TTL):

| key | type | value |
|---|---|---|
| `<p>:market:<edge>:<symbol>` | string | `MarketRecord`: the facts seen (signals, sizings, openings, closes) |
| `<p>:book:<edge>` | string | `EdgeBook`: the edge's totals, all time and per UTC month |
| `<p>:edges` | set | the edges with a record |
| `<p>:markets:<edge>` | set | the symbols with a record for the edge |

One update = `WATCH market book` → `GET` both → pure `apply_fact` → `MULTI SET market, SET book, SADD ×2 EXEC`.
The fact is stored in the record in the same transaction as the totals it moves, keyed by its event id, so a
redelivered event finds it known and changes nothing.  A lost race (`EXEC` fails) recomputes from the new values,
up to `attempts` times, then raises (the message is redelivered).
"""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import WatchError

from services.performance.edge_results import (
    Applied,
    EdgeBook,
    Fact,
    MarketRecord,
    MarketRef,
    apply_fact,
    empty_record,
)


class UpdateConflict(RuntimeError):
    """The optimistic transaction lost every attempt."""


class Keys:
    def __init__(self, prefix: str = "performance") -> None:
        self.prefix = prefix

    def market(self, edge: str, symbol: str) -> str:
        return f"{self.prefix}:market:{edge}:{symbol}"

    def book(self, edge: str) -> str:
        return f"{self.prefix}:book:{edge}"

    @property
    def edges(self) -> str:
        return f"{self.prefix}:edges"

    def markets(self, edge: str) -> str:
        return f"{self.prefix}:markets:{edge}"


def _record(raw: bytes | str | None, market: MarketRef) -> MarketRecord:
    return empty_record(market) if raw is None else MarketRecord.model_validate_json(raw)


def _book(raw: bytes | str | None, edge: str) -> EdgeBook:
    return EdgeBook(edge=edge) if raw is None else EdgeBook.model_validate_json(raw)


class PerformanceStore(Protocol):
    async def apply(self, fact: Fact) -> Applied:
        """Apply the fact atomically (record + totals) and return what it gave."""

    async def edges(self) -> list[str]: ...

    async def book(self, edge: str) -> EdgeBook: ...

    async def markets(self, edge: str) -> list[MarketRecord]: ...


class RedisPerformanceStore:
    def __init__(self, redis: Redis, prefix: str = "performance", attempts: int = 100) -> None:
        self.redis = redis
        self.keys = Keys(prefix)
        self.attempts = attempts
        self.conflicts = 0

    async def apply(self, fact: Fact) -> Applied:
        m = fact.market
        mkey, bkey = self.keys.market(m.edge, m.symbol), self.keys.book(m.edge)
        for _ in range(self.attempts):
            async with self.redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(mkey, bkey)
                    raw_record, raw_book = await pipe.mget(mkey, bkey)
                    applied = apply_fact(_record(raw_record, m), _book(raw_book, m.edge), fact)
                    if applied.known:
                        await pipe.unwatch()
                        return applied
                    pipe.multi()
                    pipe.set(mkey, applied.record.model_dump_json())
                    if applied.totals_changed:
                        pipe.set(bkey, applied.book.model_dump_json())
                    pipe.sadd(self.keys.edges, m.edge)
                    pipe.sadd(self.keys.markets(m.edge), m.symbol)
                    await pipe.execute()
                    return applied
                except WatchError:
                    self.conflicts += 1
        raise UpdateConflict(f"{mkey}: {self.attempts} optimistic transaction attempts lost")

    async def edges(self) -> list[str]:
        return sorted(_text(e) for e in await self.redis.smembers(self.keys.edges))

    async def book(self, edge: str) -> EdgeBook:
        return _book(await self.redis.get(self.keys.book(edge)), edge)

    async def markets(self, edge: str) -> list[MarketRecord]:
        symbols = sorted(_text(s) for s in await self.redis.smembers(self.keys.markets(edge)))
        if not symbols:
            return []
        raws = await self.redis.mget([self.keys.market(edge, s) for s in symbols])
        return [MarketRecord.model_validate_json(r) for r in raws if r is not None]


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


class InMemoryPerformanceStore:
    """The fake: the same JSON values in dicts (so encoding bugs show in unit tests too)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}
        self.keys = Keys()
        self._sets: dict[str, set[str]] = {}

    async def apply(self, fact: Fact) -> Applied:
        m = fact.market
        mkey, bkey = self.keys.market(m.edge, m.symbol), self.keys.book(m.edge)
        applied = apply_fact(_record(self.values.get(mkey), m), _book(self.values.get(bkey), m.edge), fact)
        if not applied.known:
            self.values[mkey] = applied.record.model_dump_json()
            self.values[bkey] = applied.book.model_dump_json()
            self._sets.setdefault(self.keys.edges, set()).add(m.edge)
            self._sets.setdefault(self.keys.markets(m.edge), set()).add(m.symbol)
        return applied

    async def edges(self) -> list[str]:
        return sorted(self._sets.get(self.keys.edges, set()))

    async def book(self, edge: str) -> EdgeBook:
        return _book(self.values.get(self.keys.book(edge)), edge)

    async def markets(self, edge: str) -> list[MarketRecord]:
        symbols = sorted(self._sets.get(self.keys.markets(edge), set()))
        return [MarketRecord.model_validate_json(self.values[self.keys.market(edge, s)]) for s in symbols]
