"""Pure candle queries at a simulated instant: what is visible, the in-progress daily candle, klines windows,
and the Binance wire formats (REST 12-field rows, websocket kline events).  No I/O.

Visibility at sim time `now` (ms):
- an hourly candle is visible once closed: `open_time + 1h <= now` (the in-progress hour is unknown);
- a daily candle is visible once open (`open_time <= now`): closed days carry the daily file's values exactly, the
  current day is aggregated from the day's hourly candles closed by `now`.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import numpy as np

from services.exchange_simulator.data import DAY_MS, HOUR_MS, CandleSeries

_QUOTE_EXP = Decimal("0.00000001")


@dataclass(frozen=True, slots=True)
class Candle:
    open_time: int
    interval_ms: int
    open: str
    high: str
    low: str
    close: str
    volume: str
    closed: bool

    @property
    def close_time(self) -> int:
        return self.open_time + self.interval_ms - 1

    @property
    def quote_volume(self) -> str:
        """Not in the data: derived as volume x close, 8 decimals."""
        return format((Decimal(self.volume) * Decimal(self.close)).quantize(_QUOTE_EXP), "f")


def row_candle(series: CandleSeries, i: int, closed: bool = True) -> Candle:
    return Candle(
        open_time=int(series.open_time[i]),
        interval_ms=series.interval_ms,
        open=series.open[i].decode(),
        high=series.high[i].decode(),
        low=series.low[i].decode(),
        close=series.close[i].decode(),
        volume=series.volume[i].decode(),
        closed=closed,
    )


def index_of(series: CandleSeries, open_time: int) -> int | None:
    i = int(np.searchsorted(series.open_time, open_time, side="left"))
    if i < len(series) and int(series.open_time[i]) == open_time:
        return i
    return None


def closed_count(series: CandleSeries, now: int) -> int:
    """Number of candles closed at `now` (prefix length)."""
    return int(np.searchsorted(series.open_time, now - series.interval_ms, side="right"))


def started_count(series: CandleSeries, now: int) -> int:
    """Number of candles opened at `now` (prefix length)."""
    return int(np.searchsorted(series.open_time, now, side="right"))


def aggregate_day(daily: CandleSeries, hourly: CandleSeries, day_open: int, now: int) -> Candle | None:
    """The daily candle opening at `day_open` as known at `now`.

    Closed (`day_open + 1d <= now`): the daily file's row.  In progress: open of the first hour, max high, min
    low, close of the last closed hour, summed volume, over the day's hourly candles closed by `now`; with no
    hour closed yet it is flat at the daily open with zero volume.  None if the day is not open yet or has no data.
    """
    if now < day_open:
        return None
    d = index_of(daily, day_open)
    if day_open + DAY_MS <= now:
        return row_candle(daily, d, closed=True) if d is not None else None
    a = int(np.searchsorted(hourly.open_time, day_open, side="left"))
    b = min(closed_count(hourly, now), int(np.searchsorted(hourly.open_time, day_open + DAY_MS, side="left")))
    if b <= a:
        if d is None:
            return None
        o = daily.open[d].decode()
        return Candle(day_open, DAY_MS, o, o, o, o, "0", closed=False)
    hi = a + int(np.argmax(hourly.high_f[a:b]))
    lo = a + int(np.argmin(hourly.low_f[a:b]))
    volume = sum((Decimal(v.decode()) for v in hourly.volume[a:b]), Decimal(0))
    return Candle(
        open_time=day_open,
        interval_ms=DAY_MS,
        open=hourly.open[a].decode(),
        high=hourly.high[hi].decode(),
        low=hourly.low[lo].decode(),
        close=hourly.close[b - 1].decode(),
        volume=format(volume, "f"),
        closed=False,
    )


def window(open_times: np.ndarray, visible: int, start: int | None, end: int | None, limit: int) -> tuple[int, int]:
    """Binance klines windowing over the first `visible` candles: open_time in [start, end] (inclusive); with a
    start the first `limit` from it, otherwise the last `limit` up to end.  Returns a [lo, hi) index range."""
    hi = visible
    if end is not None:
        hi = min(hi, int(np.searchsorted(open_times, end, side="right")))
    if start is not None:
        lo = int(np.searchsorted(open_times, start, side="left"))
        hi = min(hi, lo + limit)
    else:
        lo = max(0, hi - limit)
    return lo, max(lo, hi)


def klines(
    daily: CandleSeries,
    hourly: CandleSeries,
    interval: str,
    now: int,
    start: int | None,
    end: int | None,
    limit: int,
) -> list[Candle]:
    """The candles GET /api/v3/klines returns at sim time `now`."""
    if interval == "1h":
        lo, hi = window(hourly.open_time, closed_count(hourly, now), start, end, limit)
        return [row_candle(hourly, i) for i in range(lo, hi)]
    lo, hi = window(daily.open_time, started_count(daily, now), start, end, limit)
    out = [row_candle(daily, i) for i in range(lo, hi)]
    if out and out[-1].open_time + DAY_MS > now:  # the current day: in-progress values
        current = aggregate_day(daily, hourly, out[-1].open_time, now)
        if current is not None:
            out[-1] = current
    return out


def last_price(daily: CandleSeries, hourly: CandleSeries, now: int) -> str | None:
    """Close of the last closed hourly candle, else of the last closed daily candle, else None (not listed)."""
    h = closed_count(hourly, now)
    if h:
        return str(hourly.close[h - 1].decode())
    d = closed_count(daily, now)
    return str(daily.close[d - 1].decode()) if d else None


def rest_row(c: Candle) -> list[object]:
    """The 12-field REST klines row.  Trades = 0 and taker volumes = "0": the data has neither."""
    return [c.open_time, c.open, c.high, c.low, c.close, c.volume, c.close_time, c.quote_volume, 0, "0", "0", "0"]


def kline_event(symbol: str, interval: str, c: Candle, event_time: int) -> dict[str, object]:
    """A websocket `<symbol>@kline_<interval>` payload (first/last trade id -1: no trades in the data)."""
    return {
        "e": "kline",
        "E": event_time,
        "s": symbol,
        "k": {
            "t": c.open_time,
            "T": c.close_time,
            "s": symbol,
            "i": interval,
            "f": -1,
            "L": -1,
            "o": c.open,
            "c": c.close,
            "h": c.high,
            "l": c.low,
            "v": c.volume,
            "n": 0,
            "x": c.closed,
            "q": c.quote_volume,
            "V": "0",
            "Q": "0",
            "B": "0",
        },
    }


def hour_event_candle(hourly: CandleSeries, boundary: int) -> Candle | None:
    """The hourly candle that closes at `boundary` (a multiple of 1h), if the data has it."""
    i = index_of(hourly, boundary - HOUR_MS)
    return row_candle(hourly, i) if i is not None else None


def day_event_candle(daily: CandleSeries, hourly: CandleSeries, boundary: int) -> Candle | None:
    """At an hour boundary: the final daily candle if a day closes there, else the in-progress daily update."""
    if boundary % DAY_MS == 0:
        return aggregate_day(daily, hourly, boundary - DAY_MS, boundary)
    return aggregate_day(daily, hourly, boundary - boundary % DAY_MS, boundary)
