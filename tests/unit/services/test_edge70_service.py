"""edge70-signals service logic with fakes: same signals as the pure series code, exactly-once evaluation."""

from __future__ import annotations

from pathlib import Path

import pytest

from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.edge70 import Edge70Config
from binance_tool.edge70.offline import series_signals
from binance_tool.events import (
    Edge70CandleEvaluated,
    Edge70Parameters,
    Edge70Signal,
    Market,
    SendUserMessage,
)
from binance_tool.exchange.fake_market import FakeMarketData
from binance_tool.market.candles import CandleSeries, read_candle_file
from binance_tool.state.edge70_state import InMemoryEdge70StateStore
from services.edge70_signals.service import Edge70SignalsService
from tests.builders import candle_event

DAY = 86_400_000


@pytest.fixture
def btc(shared_data: Path):
    return list(read_candle_file(shared_data / "1d" / "BTCUSDT.csv", "1d"))


async def make(candles, now_index, store=None, bus=None):
    md = FakeMarketData({"BTCUSDT": candles}, now_ms=candles[now_index].open_time_ms + DAY)
    bus = bus or InMemoryBus()
    await bus.connect()
    svc = Edge70SignalsService(
        bus,
        md,
        store or InMemoryEdge70StateStore(),
        FixedClock(1),
        Edge70Parameters(),
        [Market.spot("BTC", "USDT")],
        3600,
        1000,
    )
    return svc, md, bus


def signals_of(bus: InMemoryBus):
    return [(e.candle_open_time_ms, e.direction.value) for e in bus.published if isinstance(e, Edge70Signal)]


def expected_after(candles, start_index):
    rows = series_signals(CandleSeries.from_candles("BTCUSDT", candles), Edge70Config())
    return [(r.candle_open_time, r.direction) for r in rows if r.candle_open_time > candles[start_index].open_time_ms]


async def test_live_candles_after_warm_up_give_the_same_signals_as_the_series_computation(btc):
    start = 600
    svc, md, bus = await make(btc, start)
    await svc.warm_up()
    for i in range(start + 1, len(btc)):
        md.now_ms = btc[i].open_time_ms + DAY
        await svc.on_candle(candle_event("BTCUSDT", btc[i]))
    assert signals_of(bus) == expected_after(btc, start)
    assert len(signals_of(bus)) > 5
    evaluated = [e for e in bus.published if isinstance(e, Edge70CandleEvaluated)]
    assert len(evaluated) == len(btc) - start - 1


async def test_duplicate_and_older_candles_are_not_evaluated_again(btc):
    svc, md, bus = await make(btc, 700)
    await svc.warm_up()
    for i in (701, 702, 702, 701, 703):
        md.now_ms = max(md.now_ms, btc[i].open_time_ms + DAY)
        await svc.on_candle(candle_event("BTCUSDT", btc[i]))
    evaluated = [e.candle_open_time_ms for e in bus.published if isinstance(e, Edge70CandleEvaluated)]
    assert evaluated == [btc[i].open_time_ms for i in (701, 702, 703)]


async def test_a_gap_is_back_filled_from_rest_in_order_before_the_new_candle(btc):
    svc, md, bus = await make(btc, 500)
    await svc.warm_up()
    md.now_ms = btc[560].open_time_ms + DAY
    await svc.on_candle(candle_event("BTCUSDT", btc[560]))  # 501..559 missed
    evaluated = [e.candle_open_time_ms for e in bus.published if isinstance(e, Edge70CandleEvaluated)]
    assert evaluated == [btc[i].open_time_ms for i in range(501, 561)]
    assert signals_of(bus) == [s for s in expected_after(btc, 500) if s[0] <= btc[560].open_time_ms]


async def test_restart_catches_up_the_candles_closed_while_down_and_publishes_their_signals(btc):
    store = InMemoryEdge70StateStore()
    svc, _md, _bus = await make(btc, 900, store=store)
    await svc.warm_up()
    # down for 300 days; the new instance starts with the same store
    svc2, _md2, bus2 = await make(btc, 1200, store=store)
    await svc2.warm_up()
    got = signals_of(bus2)
    assert got == [s for s in expected_after(btc, 900) if s[0] <= btc[1200].open_time_ms]
    assert got  # the interval contains direction changes


async def test_unknown_direction_gives_a_possible_signal_message_not_a_signal():
    from binance_tool.exchange.fake_market import candle

    flat = [candle(i * DAY, 10, 5) for i in range(46)]
    young = [*flat, candle(46 * DAY, 11, 6), candle(47 * DAY, 10, 4), candle(48 * DAY, 12, 6)]
    svc, md, bus = await make(young, 45)
    await svc.warm_up()
    assert svc.direction_of("BTCUSDT") is None
    for i in range(46, len(young)):
        md.now_ms = young[i].open_time_ms + DAY
        await svc.on_candle(candle_event("BTCUSDT", young[i]))
    possible = [e for e in bus.published if isinstance(e, SendUserMessage) and e.kind == "edge70.possible-signal"]
    assert [p.text.split(" signal")[0] for p in possible] == ["possible long"]
    assert "check manually" in possible[0].text
    # the breakout up on day 46 only seeds; day 47's break down is the first real signal, day 48 another
    assert signals_of(bus) == [(47 * DAY, "short"), (48 * DAY, "long")]


async def test_event_ids_are_deterministic_so_a_replay_is_deduplicated(btc):
    svc, md, bus = await make(btc, 800)
    await svc.warm_up()
    svc2, md2, bus2 = await make(btc, 800)
    await svc2.warm_up()
    for s, m, _b in ((svc, md, bus), (svc2, md2, bus2)):
        for i in range(801, 900):
            m.now_ms = btc[i].open_time_ms + DAY
            await s.on_candle(candle_event("BTCUSDT", btc[i]))
    assert [e.event_id for e in bus.published] == [e.event_id for e in bus2.published]
