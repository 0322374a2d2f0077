"""The IdempotencyStore contract, run against the in-memory fake and real Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from binance_tool.state.idempotency import (
    ClaimResult,
    IdempotencyStore,
    InMemoryIdempotencyStore,
    RedisIdempotencyStore,
)

StoreFactory = Callable[[str], IdempotencyStore]  # owner -> store sharing one backend

CLAIMED, DONE, BUSY = ClaimResult.CLAIMED, ClaimResult.DONE, ClaimResult.BUSY


@pytest.fixture(params=["memory", "redis"])
async def stores(request: pytest.FixtureRequest) -> AsyncIterator[StoreFactory]:
    if request.param == "memory":
        backing: dict[str, tuple[str, float]] = {}
        yield lambda owner: InMemoryIdempotencyStore(owner, backing=backing)
        return
    client = Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover
        pytest.skip(f"Redis not reachable: {exc}")
    yield lambda owner: RedisIdempotencyStore(client, owner)
    await client.aclose()


@pytest.fixture
def scope() -> str:
    return f"test-{uuid.uuid4().hex}"


async def test_first_claim_wins_and_a_second_owner_sees_busy(stores: StoreFactory, scope: str) -> None:
    a, b = stores("a"), stores("b")
    assert await a.claim_many(scope, ["e1", "e2"], 10_000) == [CLAIMED, CLAIMED]
    assert await b.claim_many(scope, ["e1", "e2", "e3"], 10_000) == [BUSY, BUSY, CLAIMED]


async def test_completed_ids_are_done_for_everyone(stores: StoreFactory, scope: str) -> None:
    a, b = stores("a"), stores("b")
    await a.claim_many(scope, ["e1"], 10_000)
    await a.complete_many(scope, ["e1"], 60)
    assert await a.claim_many(scope, ["e1"], 10_000) == [DONE]
    assert await b.claim_many(scope, ["e1"], 10_000) == [DONE]


async def test_released_claim_can_be_claimed_again(stores: StoreFactory, scope: str) -> None:
    a, b = stores("a"), stores("b")
    await a.claim_many(scope, ["e1"], 10_000)
    await a.release_many(scope, ["e1"])
    assert await b.claim_many(scope, ["e1"], 10_000) == [CLAIMED]


async def test_release_does_not_drop_another_owners_lease(stores: StoreFactory, scope: str) -> None:
    a, b = stores("a"), stores("b")
    await a.claim_many(scope, ["e1"], 10_000)
    await b.release_many(scope, ["e1"])
    assert await b.claim_many(scope, ["e1"], 10_000) == [BUSY]


async def test_release_does_not_undo_completion(stores: StoreFactory, scope: str) -> None:
    a = stores("a")
    await a.claim_many(scope, ["e1"], 10_000)
    await a.complete_many(scope, ["e1"], 60)
    await a.release_many(scope, ["e1"])
    assert await a.claim_many(scope, ["e1"], 10_000) == [DONE]


async def test_expired_lease_of_a_crashed_owner_can_be_claimed(stores: StoreFactory, scope: str) -> None:
    a, b = stores("a"), stores("b")
    await a.claim_many(scope, ["e1"], 50)
    assert await b.claim_many(scope, ["e1"], 10_000) == [BUSY]
    await asyncio.sleep(0.12)
    assert await b.claim_many(scope, ["e1"], 10_000) == [CLAIMED]


async def test_done_marker_expires_after_its_ttl(stores: StoreFactory, scope: str) -> None:
    a = stores("a")
    await a.claim_many(scope, ["e1"], 10_000)
    await a.complete_many(scope, ["e1"], 1)
    await asyncio.sleep(1.1)
    assert await a.claim_many(scope, ["e1"], 10_000) == [CLAIMED]


async def test_scopes_are_independent(stores: StoreFactory, scope: str) -> None:
    a = stores("a")
    await a.claim_many(scope, ["e1"], 10_000)
    await a.complete_many(scope, ["e1"], 60)
    assert await a.claim_many(scope + "-other", ["e1"], 10_000) == [CLAIMED]


async def test_racing_consumers_claim_each_id_exactly_once(stores: StoreFactory, scope: str) -> None:
    owners = [stores(f"o{i}") for i in range(4)]
    ids = [f"e{i}" for i in range(200)]
    results = await asyncio.gather(*(o.claim_many(scope, ids, 10_000) for o in owners))
    for column in zip(*results, strict=True):
        assert sorted(column).count(CLAIMED) == 1
        assert column.count(BUSY) == len(owners) - 1


async def test_seen_before_is_a_one_phase_set_nx(stores: StoreFactory, scope: str) -> None:
    a = stores("a")
    assert await a.seen_before(scope, "e1", 60) is False
    assert await a.seen_before(scope, "e1", 60) is True
    assert await a.claim_many(scope, ["e1"], 10_000) == [DONE]


async def test_empty_batches_are_no_ops(stores: StoreFactory, scope: str) -> None:
    a = stores("a")
    assert await a.claim_many(scope, [], 10_000) == []
    await a.complete_many(scope, [], 60)
    await a.release_many(scope, [])


async def test_redis_keys_follow_the_dedup_scope_id_layout(redis_client: Redis, scope: str) -> None:
    store = RedisIdempotencyStore(redis_client, "a")
    await store.claim_many(scope, ["e1"], 10_000)
    assert await redis_client.get(f"dedup:{scope}:e1") == b"L:a"
    assert 0 < await redis_client.pttl(f"dedup:{scope}:e1") <= 10_000
    await store.complete_many(scope, ["e1"], 60)
    assert await redis_client.get(f"dedup:{scope}:e1") == b"D"
    assert 0 < await redis_client.ttl(f"dedup:{scope}:e1") <= 60
