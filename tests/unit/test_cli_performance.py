"""`binance-tool performance` reads the performance service's Redis state through its read API (real Redis,
a key prefix of its own) and shows per-edge results as tables."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime
from decimal import Decimal as D
from pathlib import Path

from redis.asyncio import Redis
from typer.testing import CliRunner

from cli.main import build
from services.performance.edge_results import (
    ClosedPositionFact,
    MarketRef,
    PositionClosed,
    SignalFact,
    SignalSeen,
    SizingFact,
    SizingSeen,
)
from services.performance.store import RedisPerformanceStore

BTC = MarketRef("edge70", "BTCUSDT", "BTC")
ETH = MarketRef("edge70", "ETHUSDT", "ETH")


def ms(day: str) -> int:
    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)


def facts():
    ids = {name: str(uuid.uuid4()) for name in ("bl", "bs", "el", "es", "close")}
    return [
        SignalSeen(BTC, SignalFact(event_id=ids["bl"], direction="long", price=D(100), ts_ms=ms("2024-01-05"))),
        SizingSeen(BTC, ids["bl"], SizingFact(accepted=True, refusal=None, reason="ok")),
        SignalSeen(BTC, SignalFact(event_id=ids["bs"], direction="short", price=D(125), ts_ms=ms("2024-01-20"))),
        PositionClosed(BTC, ClosedPositionFact(event_id=ids["close"], realised_pnl=D("24.5"), cost=D("100"),
                                               opened_at_ms=ms("2024-01-05") + 1, closed_at_ms=ms("2024-01-20") + 1)),
        SignalSeen(ETH, SignalFact(event_id=ids["el"], direction="long", price=D(10), ts_ms=ms("2024-02-01"))),
        SizingSeen(ETH, ids["el"], SizingFact(accepted=False, refusal="max-open-positions", reason="full")),
        SignalSeen(ETH, SignalFact(event_id=ids["es"], direction="short", price=D(9), ts_ms=ms("2024-02-11"))),
    ]  # fmt: skip


async def _store(redis_url: str, prefix: str, delete: bool = False) -> None:
    redis = Redis.from_url(redis_url)
    try:
        if delete:
            keys = [k async for k in redis.scan_iter(match=f"{prefix}:*")]
            if keys:
                await redis.delete(*keys)
            return
        store = RedisPerformanceStore(redis, prefix)
        for f in facts():
            await store.apply(f)
    finally:
        await redis.aclose()


def test_performance_shows_real_and_signal_results_per_edge(redis_url: str, tmp_path: Path, monkeypatch):
    for name in ("REDIS_URL", "PERFORMANCE_KEY_PREFIX"):  # the env file sets them: restored after the test
        monkeypatch.delenv(name, raising=False)
    prefix = f"test-cli-performance-{uuid.uuid4().hex[:10]}"
    env = tmp_path / "cluster.env"
    env.write_text(f"REDIS_URL={redis_url}\nPERFORMANCE_KEY_PREFIX={prefix}\n")
    runner = CliRunner()
    empty = runner.invoke(build("performance"), ["performance", "--env-file", str(env)], env={"COLUMNS": "250"})
    assert empty.exit_code == 0, empty.output
    assert "no edge results yet" in empty.output
    asyncio.run(_store(redis_url, prefix))
    try:
        shown = runner.invoke(build("performance"), ["performance", "--env-file", str(env)], env={"COLUMNS": "250"})
        assert shown.exit_code == 0, shown.output
        out = shown.output
        assert "edge70" in out and "all time" in out and "2024-01" in out and "2024-02" in out
        assert "+24.50" in out  # the real P&L
        assert "+25.00 %" in out and "-10.00 %" in out  # the two signal trades
        assert "max-open-positions" in out and "BTCUSDT" in out and "ETHUSDT" in out
        assert "last 2 signal trades" in out and "last 1 closed positions" in out
        one = runner.invoke(build("performance"), ["performance", "--env-file", str(env), "--last", "1"],
                            env={"COLUMNS": "250"})  # fmt: skip
        assert one.exit_code == 0 and "last 1 signal trades" in one.output, one.output
        none = runner.invoke(build("performance"), ["performance", "--env-file", str(env), "--last", "0"],
                             env={"COLUMNS": "250"})  # fmt: skip
        assert none.exit_code == 0 and "all time" in none.output, none.output  # the totals only
        assert "— last" not in none.output  # neither list (`[-0:]` listed everything)
        bad = runner.invoke(build("performance"), ["performance", "--env-file", str(env)],
                            env={"PERFORMANCE_KEY_PREFIX": "no spaces allowed"})  # fmt: skip
        assert bad.exit_code == 2 and "PERFORMANCE_KEY_PREFIX" in bad.output
    finally:
        asyncio.run(_store(redis_url, prefix, delete=True))
