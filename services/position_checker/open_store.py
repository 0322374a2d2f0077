"""Which mismatches the checker is reporting (when first confirmed, when the user was last told, clean readings
since), kept across restarts: a restart — or a crash loop — does not tell the user again about what it already
told, and a mismatch resolved while the checker was down still gets its all-clear.

Redis: `position-checker:<account>:open` — one JSON string {"<kind>|<asset>|<edge>": {first_seen_ms, told_ms,
clean}} (small: one entry per open mismatch), written after each check's events are published."""

from __future__ import annotations

import json
from typing import Protocol

from redis.asyncio import Redis

Key = tuple[str, str, str]
OpenState = dict[Key, tuple[int, int, int]]  # key → (first_seen_ms, told_ms, clean readings)


def open_key(account: str) -> str:
    return f"position-checker:{account}:open"


def encode(state: OpenState) -> str:
    return json.dumps(
        {"|".join(k): {"first_seen_ms": f, "told_ms": t, "clean": c} for k, (f, t, c) in sorted(state.items())},
        separators=(",", ":"),
    )


def decode(raw: str | bytes | None) -> OpenState:
    if not raw:
        return {}
    out: OpenState = {}
    for key, v in json.loads(raw).items():
        kind, asset, edge = key.split("|", 2)
        out[(kind, asset, edge)] = (int(v["first_seen_ms"]), int(v["told_ms"]), int(v["clean"]))
    return out


class OpenMismatchStore(Protocol):
    async def load(self, account: str) -> OpenState: ...

    async def save(self, account: str, state: OpenState) -> None: ...


class RedisOpenMismatchStore:
    def __init__(self, redis: Redis) -> None:
        self._redis = redis

    async def load(self, account: str) -> OpenState:
        return decode(await self._redis.get(open_key(account)))

    async def save(self, account: str, state: OpenState) -> None:
        await self._redis.set(open_key(account), encode(state))


class InMemoryOpenMismatchStore:
    """The fake: the same JSON in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def load(self, account: str) -> OpenState:
        return decode(self.data.get(open_key(account)))

    async def save(self, account: str, state: OpenState) -> None:
        self.data[open_key(account)] = encode(state)
