"""candle-ingestion logic with fakes: publish closed candles once, back-fill gaps and reconnects in order."""

from __future__ import annotations

from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.events import CandleClosed, Market
from binance_tool.exchange.fake_market import FakeMarketData, candle
from binance_tool.exchange.market_data import StreamInterrupted
from binance_tool.state.cursors import InMemoryCandleCursorStore
from services.candle_ingestion.service import CandleIngestionService

DAY = 86_400_000
CANDLES = [candle(i * DAY, 10 + i, 5) for i in range(30)]


async def make(now_index: int, cursors=None, bus=None):
    md = FakeMarketData({"BTCUSDT": CANDLES}, now_ms=CANDLES[now_index].open_time_ms + DAY)
    bus = bus or InMemoryBus()
    await bus.connect()
    svc = CandleIngestionService(
        bus, md, cursors or InMemoryCandleCursorStore(), FixedClock(5), [Market.spot("BTC", "USDT")], ["1d"]
    )
    return svc, md, bus


def published(bus) -> list[int]:
    return [e.open_time_ms // DAY for e in bus.published if isinstance(e, CandleClosed)]


async def test_first_start_sets_the_cursor_without_republishing_history():
    svc, md, bus = await make(10)
    await svc.catch_up("1d")
    assert published(bus) == []
    md.now_ms = CANDLES[11].open_time_ms + DAY
    await svc.handle("1d", md.kline("BTCUSDT", CANDLES[11]))
    assert published(bus) == [11]


async def test_in_progress_updates_are_not_published_and_duplicates_are_skipped():
    svc, md, bus = await make(10)
    await svc.catch_up("1d")
    md.now_ms = CANDLES[11].open_time_ms + DAY // 2
    await svc.handle("1d", md.kline("BTCUSDT", CANDLES[11]))  # still open
    md.now_ms = CANDLES[11].open_time_ms + DAY
    k = md.kline("BTCUSDT", CANDLES[11])
    await svc.handle("1d", k)
    await svc.handle("1d", k)
    assert published(bus) == [11]


async def test_a_gap_in_the_stream_is_back_filled_from_rest_before_the_new_candle():
    svc, md, bus = await make(10)
    await svc.catch_up("1d")
    md.now_ms = CANDLES[15].open_time_ms + DAY
    await svc.handle("1d", md.kline("BTCUSDT", CANDLES[15]))
    assert published(bus) == [11, 12, 13, 14, 15]
    assert [e.source for e in bus.published][:4] == ["rest-backfill"] * 4


async def test_a_reconnect_back_fills_everything_closed_since_the_cursor():
    svc, md, bus = await make(10)
    await svc.catch_up("1d")
    md.now_ms = CANDLES[13].open_time_ms + DAY
    await svc.handle("1d", StreamInterrupted("dropped"))
    assert published(bus) == [11, 12, 13]


async def test_two_replicas_sharing_the_cursor_publish_the_same_event_ids():
    cursors = InMemoryCandleCursorStore()
    bus = InMemoryBus()
    a, md_a, _ = await make(10, cursors, bus)
    b, md_b, _ = await make(10, cursors, bus)
    await a.catch_up("1d")
    await b.catch_up("1d")
    for md, svc in ((md_a, a), (md_b, b)):
        md.now_ms = CANDLES[12].open_time_ms + DAY
        await svc.handle("1d", md.kline("BTCUSDT", CANDLES[12]))
    ids = [e.event_id for e in bus.published]
    assert published(bus) == [11, 12]  # replica b found the cursor at 12 and published nothing twice
    assert len(ids) == len(set(ids))
