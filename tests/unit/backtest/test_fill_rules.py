"""Backtest fill semantics on hand-made candles: the entry limit, the stop, exits and the order of events."""

from __future__ import annotations

import dataclasses
from decimal import Decimal

import pytest

from binance_tool.backtest import BacktestSettings, ExitReason, SignalAction, run_backtest
from binance_tool.edge70.rules import Edge70Config
from binance_tool.market.candles import Candle, CandleSeries
from binance_tool.trading import UNFILTERED

D = Decimal
DAY = 86_400_000
T0 = 1_600_000_000_000 - 1_600_000_000_000 % DAY
SETTINGS = BacktestSettings(edge=Edge70Config(3, 2))
# bars 0-2 history, 3 sets the first direction (short), 4 is a long signal at close 11.5 → limit 11.5575
PREFIX = [("10", "11", "9", "10"), ("10", "11", "9", "10"), ("10", "11", "9", "10"), ("10", "10.5", "8", "9"),
          ("9", "12", "8.5", "11.5")]  # fmt: skip
LIMIT = D("11.5575")


def series(rows: list[tuple[str, str, str, str]], symbol: str = "XUSDT") -> CandleSeries:
    candles = [Candle(T0 + i * DAY, D(o), D(h), D(lo), D(c), D(1)) for i, (o, h, lo, c) in enumerate(rows)]
    return CandleSeries.from_candles(symbol, candles)


def run(rows, settings=SETTINGS):
    s = series(PREFIX + rows)
    return run_backtest({"XUSDT": s}, {"XUSDT": dataclasses.replace(UNFILTERED, symbol="XUSDT")}, "1d", settings)


def test_an_open_above_the_limit_fills_at_the_limit_if_the_low_comes_back_and_a_gap_below_the_stop_exits_at_the_open():
    result = run([("11.6", "12.5", "11.5", "12"), ("12", "13", "12", "12.8"), ("9.5", "10", "9", "9.8")])
    (trade,) = result.trades
    assert (trade.entry_price, trade.filled_at_open, trade.entry_time_ms) == (LIMIT, False, T0 + 5 * DAY)
    assert trade.stop_price == LIMIT * D("0.85")
    assert (trade.exit_price, trade.exit_reason, trade.exit_time_ms) == (D("9.5"), ExitReason.STOP, T0 + 7 * DAY)
    short = result.signals[-1]
    assert (short.direction, short.action) == ("short", SignalAction.NO_POSITION)  # stopped earlier that day


def test_a_fill_at_the_open_exits_at_the_next_open_after_a_short_signal_with_fees_on_both_sides():
    rows = [("11.5", "12", "11.2", "11.8"), ("11.8", "12", "11.0", "11.1"), ("11", "11.2", "10.5", "10.6"),
            ("10.4", "10.8", "10", "10.2")]  # fmt: skip
    result = run(rows)
    (trade,) = result.trades
    assert (trade.entry_price, trade.filled_at_open) == (D("11.5"), True)
    assert (trade.exit_price, trade.exit_reason, trade.exit_time_ms) == (D("10.4"), ExitReason.SIGNAL, T0 + 8 * DAY)
    q = trade.quantity
    assert 0 <= trade.fees - q * (D("11.5") + D("10.4")) * D("0.001") < D("2e-8")  # 0.1 % a side, rounded up
    assert trade.pnl == q * (D("10.4") - D("11.5")) - trade.fees
    assert result.signals[-1].action is SignalAction.EXIT
    # the portfolio value at the end is exactly the initial capital plus the trade's P&L
    assert float(result.value[-1]) == pytest.approx(float(D(10000) + trade.pnl), abs=1e-6)


def test_the_fill_candle_low_is_checked_against_the_stop_only_when_the_fill_was_at_the_open():
    at_open = run([("11.5", "12", "9.0", "11")])
    (trade,) = at_open.trades
    assert (trade.exit_reason, trade.exit_price, trade.exit_time_ms) == (ExitReason.STOP, D("9.775"), T0 + 5 * DAY)
    at_limit = run([("11.6", "12", "9.0", "11"), ("11", "11.5", "10.8", "11.2")])
    (trade,) = at_limit.trades
    assert trade.exit_reason is ExitReason.END  # the low of the fill candle may have come before the fill
    assert trade.exit_price == D("11.2") and trade.exit_fee == 0


def test_an_unreached_limit_is_cancelled_after_the_entry_timeout():
    result = run([("12", "12.5", "11.6", "12.2"), ("11", "11.5", "10.9", "11.2")])
    assert result.trades == []
    assert result.signals[0].action is SignalAction.ENTRY_NOT_FILLED
    longer = dataclasses.replace(SETTINGS, execution=dataclasses.replace(SETTINGS.execution, entry_timeout_candles=2))
    (trade,) = run([("12", "12.5", "11.6", "12.2"), ("11", "11.5", "10.9", "11.2")], longer).trades
    assert (trade.entry_price, trade.entry_time_ms) == (D("11"), T0 + 6 * DAY)


def test_a_signal_on_the_last_candle_leaves_the_order_pending_and_the_cash_untouched():
    result = run([])
    assert result.signals[0].action is SignalAction.ENTRY_PENDING_AT_END
    assert result.signals[0].decision is not None and result.signals[0].decision.accepted
    assert result.trades == [] and float(result.value[-1]) == 10000.0


def test_signals_of_the_same_close_are_sized_in_symbol_order_against_the_cash_left():
    rows = [*PREFIX, ("11.5", "12", "11.2", "11.8")]
    markets = {s: series(rows, s) for s in ("BUSDT", "AUSDT")}
    filters = {s: dataclasses.replace(UNFILTERED, symbol=s) for s in markets}
    tight = dataclasses.replace(SETTINGS, sizing=dataclasses.replace(SETTINGS.sizing, max_open_positions=1))
    result = run_backtest(markets, filters, "1d", tight)
    assert [(r.symbol, r.action) for r in result.signals] == [
        ("AUSDT", SignalAction.ENTRY_FILLED),
        ("BUSDT", SignalAction.REFUSED),
    ]
    assert result.signals[1].decision is not None and result.signals[1].decision.binding.value == "MAX_OPEN_POSITIONS"
