from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from decimal import Decimal

import pytest
from redis.asyncio import Redis

from binance_tool.events import CandleClosed, Market


def candle(
    open_time_ms: int = 0, *, symbol: str = "BTCUSDT", interval: str = "1m", event_id: uuid.UUID | None = None
) -> CandleClosed:
    base, quote = symbol[:-4], symbol[-4:]
    return CandleClosed(
        event_id=event_id or uuid.uuid4(),
        correlation_id=uuid.uuid4(),
        ts_event_ms=open_time_ms,
        ts_init_ms=open_time_ms,
        market=Market.spot(base, quote),
        interval=interval,
        open_time_ms=open_time_ms,
        close_time_ms=open_time_ms + 59_999,
        open=Decimal("64000.10"),
        high=Decimal("64100.5"),
        low=Decimal("63900.01"),
        close=Decimal("64050"),
        volume=Decimal("12.3456"),
    )


@pytest.fixture
def make_candle() -> Callable[..., CandleClosed]:
    return candle


@pytest.fixture
async def redis_client() -> AsyncIterator[Redis]:
    client = Redis.from_url("redis://127.0.0.1:6379/15")
    try:
        await client.ping()
    except Exception as exc:  # pragma: no cover - environment without Redis
        pytest.skip(f"Redis not reachable on 127.0.0.1:6379: {exc}")
    yield client
    await client.aclose()
