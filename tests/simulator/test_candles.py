"""Pure candle logic: parsing/validation, visibility at a simulated instant, daily aggregation, klines windows."""

from __future__ import annotations

import numpy as np
import pytest

from services.exchange_simulator import candles
from services.exchange_simulator.data import DAY_MS, HOUR_MS, DataError, parse_candles

from .conftest import DAY0, hourly_rows

HEADER = "open_time,open,high,low,close,volume"


def series(rows: list[str], interval_ms: int = HOUR_MS, source: str = "x.csv"):
    return parse_candles("\n".join([HEADER, *rows]) + "\n", "TESTUSDT", interval_ms, source)


def daily_series(days: int = 3):
    return series(
        [f"{DAY0 + d * DAY_MS},{100 + d}.10,{199 + d}.00,{50 + d}.5,{142 + d}.25,123.456" for d in range(days)],
        DAY_MS,
    )


def hourly_series(days: int = 3):
    return series([r for d in range(days) for r in hourly_rows(DAY0 + d * DAY_MS, 24, 100.0 + 1000 * d)])


# -- parsing ---------------------------------------------------------------------------------------------------
def test_parse_keeps_the_original_decimal_strings():
    s = series([f"{DAY0},1.0,28.0,1.0,8.5192,59422632.28"])
    c = candles.row_candle(s, 0)
    assert (c.open, c.high, c.low, c.close, c.volume) == ("1.0", "28.0", "1.0", "8.5192", "59422632.28")
    assert s.open_time.dtype == np.int64


def test_parse_rejects_a_duplicate_open_time_naming_file_and_line():
    with pytest.raises(DataError, match=r"BTC\.csv: line 3: duplicate open_time"):
        series([f"{DAY0},1,2,0.5,1.5,1", f"{DAY0},1,2,0.5,1.5,1"], source="BTC.csv")


def test_parse_rejects_unsorted_rows_naming_the_line():
    with pytest.raises(DataError, match=r"line 4: open_time not increasing"):
        series([f"{DAY0},1,2,0.5,1.5,1", f"{DAY0 + 2 * HOUR_MS},1,2,0.5,1.5,1", f"{DAY0 + HOUR_MS},1,2,0.5,1.5,1"])


def test_parse_rejects_a_row_with_missing_fields():
    with pytest.raises(DataError, match=r"line 3: expected 6 fields, got 5"):
        series([f"{DAY0},1,2,0.5,1.5,1", f"{DAY0 + HOUR_MS},1,2,0.5,1.5"])


def test_parse_rejects_a_non_numeric_price():
    with pytest.raises(DataError, match=r"line 2: close 'abc' is not a decimal"):
        series([f"{DAY0},1,2,0.5,abc,1"])


def test_parse_rejects_an_open_time_off_the_interval_grid():
    with pytest.raises(DataError, match=r"line 2: open_time .* not on a candle boundary"):
        series([f"{DAY0 + 1},1,2,0.5,1.5,1"])


def test_parse_rejects_a_missing_header():
    with pytest.raises(DataError, match=r"line 1: expected header"):
        parse_candles(f"{DAY0},1,2,0.5,1.5,1\n", "X", HOUR_MS, "x.csv")


# -- daily aggregation -----------------------------------------------------------------------------------------
def test_in_progress_day_aggregates_the_hours_closed_so_far():
    d, h = daily_series(), hourly_series()
    c = candles.aggregate_day(d, h, DAY0, DAY0 + 7 * HOUR_MS + 5)  # hours 0..6 closed
    assert c is not None and not c.closed
    assert c.open == "100.00"  # first hour's open
    assert c.high == "155.00"  # hour 5: 105 + 50
    assert c.low == "83.00"  # hour 3: 103 - 20
    assert c.close == "107.00"  # hour 6's close
    assert c.volume == "10.5"  # 7 x 1.5
    assert c.close_time == DAY0 + DAY_MS - 1


def test_in_progress_day_with_no_closed_hour_is_flat_at_the_daily_open():
    c = candles.aggregate_day(daily_series(), hourly_series(), DAY0 + DAY_MS, DAY0 + DAY_MS + 10)
    assert c is not None and not c.closed
    assert (c.open, c.high, c.low, c.close, c.volume) == ("101.10", "101.10", "101.10", "101.10", "0")


def test_closed_day_has_exactly_the_daily_file_values():
    c = candles.aggregate_day(daily_series(), hourly_series(), DAY0, DAY0 + DAY_MS)
    assert c is not None and c.closed
    assert (c.open, c.high, c.low, c.close, c.volume) == ("100.10", "199.00", "50.5", "142.25", "123.456")


def test_day_not_open_yet_has_no_candle():
    assert candles.aggregate_day(daily_series(), hourly_series(), DAY0 + DAY_MS, DAY0 + DAY_MS - 1) is None


def test_day_event_at_midnight_is_the_final_daily_candle_and_otherwise_in_progress():
    d, h = daily_series(), hourly_series()
    final = candles.day_event_candle(d, h, DAY0 + DAY_MS)
    assert final is not None and final.closed and final.open_time == DAY0 and final.close == "142.25"
    update = candles.day_event_candle(d, h, DAY0 + DAY_MS + HOUR_MS)
    assert update is not None and not update.closed and update.open_time == DAY0 + DAY_MS
    assert update.close == "1101.00"


def test_hour_event_is_the_hourly_candle_closing_at_the_boundary():
    c = candles.hour_event_candle(hourly_series(), DAY0 + 2 * HOUR_MS)
    assert c is not None and c.closed and c.open_time == DAY0 + HOUR_MS and c.open == "101.00"
    assert candles.hour_event_candle(hourly_series(1), DAY0 + 30 * HOUR_MS) is None


# -- klines windowing ------------------------------------------------------------------------------------------
OPEN_TIMES = np.arange(10, dtype=np.int64) * 100  # 0, 100, ..., 900


@pytest.mark.parametrize(
    ("visible", "start", "end", "limit", "expected"),
    [
        (10, None, None, 500, (0, 10)),  # everything visible
        (10, None, None, 3, (7, 10)),  # no start: the most recent `limit`
        (6, None, None, 3, (3, 6)),  # ... up to what is visible now
        (10, 250, None, 3, (3, 6)),  # start: the first `limit` from start (open_time >= start)
        (10, 300, None, 500, (3, 10)),  # start is inclusive
        (10, None, 500, 2, (4, 6)),  # end is inclusive: the `limit` ending at end
        (10, 200, 500, 500, (2, 6)),  # start and end inclusive
        (10, 200, 500, 2, (2, 4)),  # with start, limit counts from start
        (5, 700, None, 500, (7, 7)),  # start after what is visible: empty
        (10, 600, 500, 500, (6, 6)),  # empty range
    ],
)
def test_klines_window_follows_binance_semantics(visible, start, end, limit, expected):
    assert candles.window(OPEN_TIMES, visible, start, end, limit) == expected


def test_hourly_klines_exclude_the_unclosed_hour():
    now = DAY0 + 5 * HOUR_MS + 30 * 60_000
    rows = candles.klines(daily_series(), hourly_series(), "1h", now, None, None, 500)
    assert [c.open_time for c in rows] == [DAY0 + i * HOUR_MS for i in range(5)]
    assert all(c.closed for c in rows)


def test_daily_klines_include_the_current_day_with_in_progress_values():
    now = DAY0 + DAY_MS + 3 * HOUR_MS
    rows = candles.klines(daily_series(), hourly_series(), "1d", now, None, None, 500)
    assert [c.open_time for c in rows] == [DAY0, DAY0 + DAY_MS]
    assert rows[0].closed and rows[0].close == "142.25"
    assert not rows[1].closed and rows[1].close == "1103.00" and rows[1].volume == "4.5"


def test_daily_klines_never_show_a_day_that_has_not_opened():
    rows = candles.klines(daily_series(), hourly_series(), "1d", DAY0 - 1, None, None, 500)
    assert rows == []


def test_last_price_is_the_last_closed_hourly_close():
    assert candles.last_price(daily_series(), hourly_series(), DAY0 + 2 * HOUR_MS + 1) == "102.00"
    assert candles.last_price(daily_series(), hourly_series(), DAY0 - 1) is None


def test_rest_row_has_binance_twelve_fields_with_close_time_and_quote_volume():
    c = candles.row_candle(daily_series(), 0)
    row = candles.rest_row(c)
    assert row == [DAY0, "100.10", "199.00", "50.5", "142.25", "123.456", DAY0 + DAY_MS - 1,
                   "17561.61600000", 0, "0", "0", "0"]  # fmt: skip


def test_kline_event_has_binance_payload_shape():
    c = candles.row_candle(hourly_series(), 0)
    event = candles.kline_event("TESTUSDT", "1h", c, DAY0 + HOUR_MS)
    assert event["e"] == "kline" and event["E"] == DAY0 + HOUR_MS and event["s"] == "TESTUSDT"
    k = event["k"]
    assert isinstance(k, dict)
    assert set(k) == set("tTsifLochlvnxqVQB")
    assert (k["t"], k["T"], k["i"], k["x"], k["o"], k["c"]) == (
        DAY0,
        DAY0 + HOUR_MS - 1,
        "1h",
        True,
        "100.00",
        "101.00",
    )
