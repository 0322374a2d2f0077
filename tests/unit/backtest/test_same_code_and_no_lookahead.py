"""The backtester trades on the live service's signals (same code), and no decision ever sees a later candle."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest

from binance_tool.backtest import BacktestSettings, SignalAction, run_backtest
from binance_tool.backtest.data import load_backtest_inputs
from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.events import Edge70Parameters, Edge70Signal, Market
from binance_tool.exchange.fake_market import FakeMarketData
from binance_tool.market.candles import read_candle_file
from binance_tool.state.edge70_state import InMemoryEdge70StateStore
from services.edge70_signals.service import Edge70SignalsService
from tests.builders import candle_event

DAY = 86_400_000
SYMBOLS = ["BTCUSDT", "ETHUSDT", "LINKUSDT", "DOGEUSDT"]


def ms(day: str) -> int:
    return int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def inputs(shared_data: Path):
    return load_backtest_inputs(shared_data / "1d", SYMBOLS, "1d", "auto")


async def test_the_service_path_and_the_backtester_produce_the_same_signals(shared_data: Path, inputs):
    start = ms("2020-01-01")
    candles = {s: list(read_candle_file(shared_data / "1d" / f"{s}.csv", "1d")) for s in SYMBOLS}
    md = FakeMarketData(candles, now_ms=start)
    bus = InMemoryBus()
    await bus.connect()
    svc = Edge70SignalsService(
        bus,
        md,
        InMemoryEdge70StateStore(),
        FixedClock(1),
        Edge70Parameters(),
        [Market.spot(s[:-4], "USDT") for s in SYMBOLS],
        3600,
        5000,  # warm up on the whole history, as the backtester does
    )
    await svc.warm_up()
    live = sorted(k for s in SYMBOLS for k in ((k.open_time_ms, s, k) for k in candles[s]) if k[0] >= start)
    for open_time, symbol, k in live:
        md.now_ms = open_time + DAY
        await svc.on_candle(candle_event(symbol, k))
    from_service = sorted(
        (e.candle_open_time_ms, e.market.symbol, e.direction.value, e.signal_price)
        for e in bus.published
        if isinstance(e, Edge70Signal)
    )
    result = run_backtest(inputs.series, inputs.filters, "1d", BacktestSettings(start_ms=start))
    from_backtest = sorted((r.candle_open_time_ms, r.symbol, r.direction, r.signal_price) for r in result.signals)
    assert len(from_service) > 40
    assert from_backtest == from_service


def decisions(result, until_ms: int):
    """Everything decided at or before the close of the candle opening at `until_ms`."""
    signals = [
        (r.symbol, r.candle_open_time_ms, r.direction, r.limit_price, r.decision and r.decision.as_dict())
        for r in result.signals
        if r.candle_open_time_ms <= until_ms
    ]
    closed = [t for t in result.trades if t.closed and t.exit_time_ms <= until_ms]
    entries = [
        (t.symbol, t.entry_time_ms, t.entry_price, t.quantity) for t in result.trades if t.entry_time_ms <= until_ms
    ]
    upto = int((result.times <= until_ms).sum())
    return signals, closed, entries, result.value[:upto].round(6).tolist()


@pytest.mark.parametrize("cut", ["2018-06-30", "2020-03-12", "2021-05-19", "2022-01-01"])
def test_changing_any_candle_after_day_d_cannot_change_a_decision_made_on_or_before_d(inputs, cut):
    settings = BacktestSettings(start_ms=ms("2018-01-01"))
    full = run_backtest(inputs.series, inputs.filters, "1d", settings)
    d = ms(cut)
    truncated = run_backtest(inputs.series, inputs.filters, "1d", dataclasses.replace(settings, end_ms=d))
    # and a future rewritten wildly: every candle after D halved or doubled
    altered = {}
    for n, (s, v) in enumerate(sorted(inputs.series.items())):
        after = v.open_time_ms > d
        prices = {k: getattr(v, k).copy() for k in ("open", "high", "low", "close")}
        for a in prices.values():
            a[after] = a[after] * 2 if n % 2 else a[after] // 2
        altered[s] = dataclasses.replace(v, **prices)
    rewritten = run_backtest(altered, inputs.filters, "1d", settings)
    assert decisions(full, d) == decisions(truncated, d) == decisions(rewritten, d)
    assert len(decisions(full, d)[0]) > 5


def test_fills_never_use_prices_from_before_the_order_existed(inputs):
    result = run_backtest(inputs.series, inputs.filters, "1d", BacktestSettings())
    by_symbol = inputs.series
    for t in result.trades:
        s = by_symbol[t.symbol]
        assert t.entry_time_ms >= t.signal_time_ms  # the candle after the signal candle, or later
        i = int((s.open_time_ms == t.entry_time_ms).argmax())
        lo, hi = Decimal(int(s.low[i])) / 10**8, Decimal(int(s.high[i])) / 10**8
        assert lo <= t.entry_price <= hi
        assert t.exit_time_ms >= t.entry_time_ms
        j = int((s.open_time_ms == t.exit_time_ms).argmax())
        lo, hi = Decimal(int(s.low[j])) / 10**8, Decimal(int(s.high[j])) / 10**8
        assert lo <= t.exit_price <= hi or t.exit_reason.value == "end"
    entered = [r for r in result.signals if r.action is SignalAction.ENTRY_FILLED]
    assert len(entered) == len(result.trades) > 20


def test_the_ledger_balances_cash_never_goes_negative_and_every_entry_respects_the_risk_rules(inputs):
    settings = BacktestSettings()
    result = run_backtest(inputs.series, inputs.filters, "1d", settings)
    total_pnl = sum((t.pnl for t in result.trades), Decimal(0))
    assert float(result.value[-1]) == pytest.approx(float(settings.initial_capital + total_pnl), abs=1e-4)
    assert result.cash.min() >= 0
    for r in result.signals:
        d = r.decision
        if d is not None and d.accepted:
            assert d.risk <= d.portfolio_value * settings.sizing.risk_per_trade
            assert d.notional <= d.portfolio_value * settings.sizing.max_position_pct
            assert inputs.filters[r.symbol].violations(d.quantity, d.entry_price) == []
