"""edge70 rule: lookback boundaries, both triggers, first direction, gaps, and a golden test on real data."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest

from binance_tool.edge70 import LONG, NONE, SHORT, Edge70Config, MarketEdge, evaluate_series
from binance_tool.edge70.offline import all_signals, series_signals
from binance_tool.events import Edge70Outcome
from binance_tool.market.candles import Candle, CandleSeries, load_candles_dir


def arr(*xs: int) -> np.ndarray:
    return np.array(xs, dtype=np.int64)


def test_long_trigger_needs_high_strictly_above_the_previous_long_lookback_highs():
    cfg = Edge70Config(long_lookback=3, short_lookback=2)
    highs = arr(10, 12, 11, 12, 13)  # candle 3 equals the max of 0..2 (12) → no trigger; candle 4 (13) → trigger
    lows = arr(5, 5, 5, 5, 5)
    r = evaluate_series(highs, lows, cfg)
    assert r.long_trigger.tolist() == [False, False, False, False, True]


def test_lookback_counts_exactly_n_previous_candles_not_n_plus_one():
    cfg = Edge70Config(long_lookback=2, short_lookback=2)
    # candle 3's previous two highs are 5, 5 (indices 1, 2); index 0's 100 is outside the window
    highs = arr(100, 5, 5, 6)
    lows = arr(1, 1, 1, 1)
    assert evaluate_series(highs, lows, cfg).long_trigger[3]
    cfg3 = Edge70Config(long_lookback=3, short_lookback=2)
    assert not evaluate_series(highs, lows, cfg3).long_trigger[3]


def test_the_tested_candle_is_excluded_from_its_own_window():
    cfg = Edge70Config(long_lookback=2, short_lookback=2)
    r = evaluate_series(arr(5, 5, 9), arr(4, 4, 1), cfg)
    assert r.long_trigger[2] and r.short_trigger[2]


def test_no_evaluation_before_max_of_both_lookbacks_is_available():
    cfg = Edge70Config(long_lookback=4, short_lookback=2)
    highs = arr(1, 2, 3, 4, 5, 6)
    lows = arr(9, 8, 7, 6, 5, 4)
    r = evaluate_series(highs, lows, cfg)
    assert r.evaluated.tolist() == [False] * 4 + [True] * 2
    assert not r.long_trigger[:4].any() and not r.short_trigger[:4].any()
    assert r.outcome(3) is Edge70Outcome.INSUFFICIENT_HISTORY


def test_both_triggers_on_one_candle_leave_the_direction_unchanged():
    cfg = Edge70Config(long_lookback=2, short_lookback=2)
    highs = arr(5, 5, 6, 4, 10)
    lows = arr(3, 3, 3, 1, 0)  # candle 2 long, candle 3 short, candle 4 both
    r = evaluate_series(highs, lows, cfg)
    assert r.direction.tolist()[2:] == [LONG, SHORT, SHORT]
    assert r.outcome(4) is Edge70Outcome.BOTH_TRIGGERS_IGNORED
    assert not r.signal_mask[4]


def test_first_direction_is_a_possible_signal_not_a_signal():
    cfg = Edge70Config(long_lookback=2, short_lookback=2)
    r = evaluate_series(arr(5, 5, 6, 6, 4), arr(3, 3, 3, 3, 1), cfg)
    assert r.outcome(2) is Edge70Outcome.FIRST_DIRECTION
    assert r.first_direction_mask.tolist() == [False, False, True, False, False]
    assert r.signal_mask.tolist() == [False, False, False, False, True]


def test_known_initial_direction_makes_the_first_change_a_signal():
    cfg = Edge70Config(long_lookback=2, short_lookback=2)
    r = evaluate_series(arr(5, 5, 6), arr(3, 3, 3), cfg, initial=SHORT)
    assert r.outcome(2) is Edge70Outcome.SIGNAL
    r2 = evaluate_series(arr(5, 5, 6), arr(3, 3, 3), cfg, initial=LONG)
    assert r2.outcome(2) is Edge70Outcome.UNCHANGED


def test_repeated_breakouts_in_the_same_direction_do_not_signal_again():
    cfg = Edge70Config(long_lookback=2, short_lookback=2)
    r = evaluate_series(arr(5, 5, 6, 7, 8, 9), arr(3, 3, 3, 3, 3, 3), cfg, initial=SHORT)
    assert r.signal_mask.tolist() == [False, False, True, False, False, False]


def test_gaps_in_time_do_not_matter_lookback_counts_candles():
    cfg = Edge70Config(long_lookback=2, short_lookback=2)
    day = 86_400_000
    candles = [
        Candle(t * day, Decimal(1), Decimal(h), Decimal(1), Decimal(1), Decimal(1))
        for t, h in [(0, 5), (1, 5), (30, 6)]
    ]  # 28 missing days before the third candle
    s = CandleSeries.from_candles("XUSDT", candles)
    r = evaluate_series(s.high, s.low, cfg)
    assert r.long_trigger[2]


def test_market_edge_live_evaluation_matches_the_series_evaluation():
    rng = np.random.default_rng(7)
    n = 400
    highs = rng.integers(100, 200, n).astype(np.int64)
    lows = highs - rng.integers(1, 50, n).astype(np.int64)
    cfg = Edge70Config(long_lookback=10, short_lookback=5)
    series = evaluate_series(highs, lows, cfg)
    edge, direction = MarketEdge(cfg), NONE
    for i in range(n):
        ev = edge.evaluate(int(highs[i]), int(lows[i]), direction)
        assert ev.outcome is series.outcome(i), i
        assert ev.direction == series.direction[i]
        direction = ev.direction


def _straightforward_signals(rows, long_lb, short_lb):
    """Independent plain-Python reading of the shared rules, for the golden test."""
    out, direction = [], None
    for i, row in enumerate(rows):
        if i < max(long_lb, short_lb):
            continue
        hi = row["high"] > max(r["high"] for r in rows[i - long_lb : i])
        lo = row["low"] < min(r["low"] for r in rows[i - short_lb : i])
        if hi and lo:
            continue
        new = "long" if hi else "short" if lo else direction
        if new != direction and direction is not None:
            out.append((row["open_time"], new, direction, Decimal(row["close_text"])))
        direction = new
    return out


@pytest.mark.parametrize("long_lb", [44, 29, 59])
def test_golden_signals_on_real_shared_data_equal_a_straightforward_computation(long_lb, shared_data: Path):
    import csv

    DATA_1D = shared_data / "1d"

    symbols = ["BTCUSDT", "ETHUSDT", "SOLUSDT", "DOGEUSDT", "LINKUSDT"]
    series = load_candles_dir(DATA_1D, symbols)
    for symbol in symbols:
        with open(DATA_1D / f"{symbol}.csv") as fh:
            rows = [
                {
                    "open_time": int(r["open_time"]),
                    "high": Decimal(r["high"]),
                    "low": Decimal(r["low"]),
                    "close_text": r["close"],
                }
                for r in csv.DictReader(fh)
            ]
        expected = _straightforward_signals(rows, long_lb, 21)
        got = [
            (s.candle_open_time, s.direction, s.previous_direction, Decimal(s.signal_price))
            for s in series_signals(series[symbol], Edge70Config(long_lb, 21))
        ]
        assert got == expected, symbol
        assert len(got) > 5
    assert all_signals(series, Edge70Config(long_lb, 21)) == sorted(all_signals(series, Edge70Config(long_lb, 21)))
