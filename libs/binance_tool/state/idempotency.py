"""Idempotency (dedup) store: a two-phase claim on event ids, so consumers can "ack only after the effect is
stored" and still process each event id once per scope.

Per key `dedup:<scope>:<id>` the value is either
- `L:<owner>` with a millisecond TTL (`lease_ms`): a consumer (`owner`) is processing it right now, or
- `D` with a TTL in seconds (`ttl_s`): it has been processed; later deliveries are acked and skipped.

`claim_many` returns, per id, CLAIMED (no key: this owner now holds the lease and must process, then
`complete_many` or `release_many`), DONE (ack and skip) or BUSY (another owner holds an unexpired lease: try
again later).  A crashed owner's lease simply expires.  The Redis implementation runs one Lua script per batch
(one round trip, atomic), so two consumers racing on the same id cannot both get CLAIMED.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Sequence
from enum import StrEnum
from typing import Any, Protocol

from redis.asyncio import Redis

DONE_VALUE = "D"
LEASE_PREFIX = "L:"


class ClaimResult(StrEnum):
    CLAIMED = "claimed"  # process it, then complete (or release on failure)
    DONE = "done"  # already processed in this scope: ack and skip
    BUSY = "busy"  # another consumer holds an unexpired lease: retry later


def dedup_key(scope: str, event_id: str) -> str:
    return f"dedup:{scope}:{event_id}"


class IdempotencyStore(Protocol):
    async def claim_many(self, scope: str, ids: Sequence[str], lease_ms: int) -> list[ClaimResult]:
        """Try to take a processing lease on each id; one result per id, in order."""

    async def complete_many(self, scope: str, ids: Sequence[str], ttl_s: int) -> None:
        """Mark ids processed for `ttl_s` seconds (replaces any lease)."""

    async def release_many(self, scope: str, ids: Sequence[str]) -> None:
        """Give up this owner's leases (handler failed); leases held by other owners are left alone."""

    async def seen_before(self, scope: str, event_id: str, ttl_s: int) -> bool:
        """One-phase check-and-mark (SET NX): True if the id was already claimed or done."""

    async def close(self) -> None: ...


# KEYS = dedup keys; ARGV = [lease value, lease_ms].  Returns 0 = CLAIMED, 1 = DONE, 2 = BUSY per key.
# Within one call, a repeated key sees the lease this call just set: it comes back BUSY (the caller should
# not send duplicates; the consumer de-duplicates a batch before claiming).
_CLAIM_LUA = """
local out = {}
for i, key in ipairs(KEYS) do
  local v = redis.call('GET', key)
  if not v then
    redis.call('SET', key, ARGV[1], 'PX', ARGV[2])
    out[i] = 0
  elseif v == 'D' then
    out[i] = 1
  else
    out[i] = 2
  end
end
return out
"""

# KEYS = dedup keys; ARGV = [lease value].  Deletes only the caller's own leases.
# KEYS = dedup keys; ARGV = [done value, ttl_s].  One command for the whole batch (a pipeline of SETs costs a
# client-side packing per key).
_COMPLETE_LUA = """
for _, key in ipairs(KEYS) do
  redis.call('SET', key, ARGV[1], 'EX', ARGV[2])
end
return #KEYS
"""

_RELEASE_LUA = """
local n = 0
for _, key in ipairs(KEYS) do
  if redis.call('GET', key) == ARGV[1] then
    redis.call('DEL', key)
    n = n + 1
  end
end
return n
"""

_CODES = (ClaimResult.CLAIMED, ClaimResult.DONE, ClaimResult.BUSY)


class RedisIdempotencyStore:
    """`IdempotencyStore` on Redis (redis.asyncio).  `owner` identifies this process's leases (default random)."""

    def __init__(self, redis: Redis, owner: str | None = None, *, close_client: bool = False) -> None:
        self._redis = redis
        self._lease_value = LEASE_PREFIX + (owner or uuid.uuid4().hex)
        self._close_client = close_client
        self._claim: Any = redis.register_script(_CLAIM_LUA)
        self._release: Any = redis.register_script(_RELEASE_LUA)
        self._complete: Any = redis.register_script(_COMPLETE_LUA)

    @classmethod
    def from_url(cls, url: str, owner: str | None = None) -> RedisIdempotencyStore:
        return cls(Redis.from_url(url), owner, close_client=True)

    async def claim_many(self, scope: str, ids: Sequence[str], lease_ms: int) -> list[ClaimResult]:
        if not ids:
            return []
        if lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, got {lease_ms}")
        codes = await self._claim(keys=[dedup_key(scope, i) for i in ids], args=[self._lease_value, lease_ms])
        return [_CODES[int(c)] for c in codes]

    async def complete_many(self, scope: str, ids: Sequence[str], ttl_s: int) -> None:
        if not ids:
            return
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be positive, got {ttl_s}")
        await self._complete(keys=[dedup_key(scope, i) for i in ids], args=[DONE_VALUE, ttl_s])

    async def release_many(self, scope: str, ids: Sequence[str]) -> None:
        if ids:
            await self._release(keys=[dedup_key(scope, i) for i in ids], args=[self._lease_value])

    async def seen_before(self, scope: str, event_id: str, ttl_s: int) -> bool:
        created = await self._redis.set(dedup_key(scope, event_id), DONE_VALUE, ex=ttl_s, nx=True)
        return not created

    async def close(self) -> None:
        if self._close_client:
            await self._redis.aclose()


class InMemoryIdempotencyStore:
    """Fake with the same contract (leases and TTLs expire on `clock`, default `time.monotonic`).

    Several instances may share one `backing` dict to model several consumers on one Redis.
    """

    def __init__(
        self,
        owner: str | None = None,
        *,
        backing: dict[str, tuple[str, float]] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._lease_value = LEASE_PREFIX + (owner or uuid.uuid4().hex)
        self._data: dict[str, tuple[str, float]] = {} if backing is None else backing
        self._clock = clock

    def _get(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[1] <= self._clock():
            del self._data[key]
            return None
        return item[0]

    async def claim_many(self, scope: str, ids: Sequence[str], lease_ms: int) -> list[ClaimResult]:
        if ids and lease_ms <= 0:
            raise ValueError(f"lease_ms must be positive, got {lease_ms}")
        out: list[ClaimResult] = []
        for i in ids:
            key = dedup_key(scope, i)
            value = self._get(key)
            if value is None:
                self._data[key] = (self._lease_value, self._clock() + lease_ms / 1000)
                out.append(ClaimResult.CLAIMED)
            else:
                out.append(ClaimResult.DONE if value == DONE_VALUE else ClaimResult.BUSY)
        return out

    async def complete_many(self, scope: str, ids: Sequence[str], ttl_s: int) -> None:
        for i in ids:
            self._data[dedup_key(scope, i)] = (DONE_VALUE, self._clock() + ttl_s)

    async def release_many(self, scope: str, ids: Sequence[str]) -> None:
        for i in ids:
            key = dedup_key(scope, i)
            if self._get(key) == self._lease_value:
                del self._data[key]

    async def seen_before(self, scope: str, event_id: str, ttl_s: int) -> bool:
        key = dedup_key(scope, event_id)
        if self._get(key) is not None:
            return True
        self._data[key] = (DONE_VALUE, self._clock() + ttl_s)
        return False

    async def close(self) -> None:
        return None
