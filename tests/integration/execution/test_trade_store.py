"""The TAS's Redis trade store: one active trade per (edge, market), atomically, and idempotency records."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

from services.trade_abstraction.store import RedisTradeStore, TradeRecord, TradeState

pytestmark = pytest.mark.integration


def record(trade_id: str, signal: str = "s") -> TradeRecord:
    return TradeRecord(trade_id=trade_id, edge="edge70", symbol="BTCUSDT", base_asset="BTC", quote_asset="USDT",
                       signal_id=signal, created_ms=1, entry_deadline_ms=2, entry_client_id=f"c-{trade_id}",
                       entry_qty=1, entry_limit=100)  # fmt: skip


async def test_only_one_trade_claims_a_market_until_it_ends(redis_url):
    redis = Redis.from_url(redis_url)
    await redis.flushdb()
    store = RedisTradeStore(redis)
    try:
        assert await store.claim(record("t1")) is None
        assert await store.claim(record("t2")) == "t1"
        assert (await store.active("edge70", "BTCUSDT")).trade_id == "t1"
        assert [r.trade_id for r in await store.active_trades()] == ["t1"]
        ended = record("t1")
        ended.state = TradeState.CLOSED
        await store.save(ended)
        assert await store.active("edge70", "BTCUSDT") is None and await store.active_trades() == []
        assert await store.claim(record("t2")) is None
        assert await store.idempotency_begin("sizer:long", "k") is None
        assert (await store.idempotency_begin("sizer:long", "k"))["state"] == "in-progress"
        await store.idempotency_finish("sizer:long", "k", 201, {"status": "ENTERED"})
        assert (await store.idempotency_begin("sizer:long", "k"))["status_code"] == 201
    finally:
        await redis.aclose()
