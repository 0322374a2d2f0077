"""edge70 over whole candle series (CLI and backtester): every signal, from the same rule code as live."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass

import numpy as np

from binance_tool.edge70.rules import LONG, NONE, Edge70Config, evaluate_series
from binance_tool.market.candles import INTERVAL_MS, CandleSeries

DIRECTION_NAME = {LONG: "long", -1: "short", NONE: None}


@dataclass(frozen=True, order=True)
class SignalRow:
    candle_open_time: int
    symbol: str
    direction: str
    previous_direction: str
    signal_price: str
    signal_timestamp_ms: int

    def as_dict(self) -> dict[str, object]:
        d = asdict(self)
        return {
            k: d[k]
            for k in (
                "symbol",
                "direction",
                "previous_direction",
                "candle_open_time",
                "signal_price",
                "signal_timestamp_ms",
            )
        }


def series_signals(series: CandleSeries, config: Edge70Config, interval: str = "1d") -> list[SignalRow]:
    """Every direction change from a known direction; first directions ('possible signals') are not signals."""
    result = evaluate_series(series.high, series.low, config)
    rows = []
    step = INTERVAL_MS[interval]
    for i in np.flatnonzero(result.signal_mask):
        open_time = int(series.open_time_ms[i])
        rows.append(
            SignalRow(
                candle_open_time=open_time,
                symbol=series.symbol,
                direction=str(DIRECTION_NAME[int(result.direction[i])]),
                previous_direction=str(DIRECTION_NAME[int(result.previous[i])]),
                signal_price=str(series.close_at(int(i))),
                signal_timestamp_ms=open_time + step,  # close time + 1 ms
            )
        )
    return rows


def all_signals(
    series_by_symbol: Mapping[str, CandleSeries] | Iterable[CandleSeries], config: Edge70Config, interval: str = "1d"
) -> list[SignalRow]:
    """Signals of every market, in time order (then symbol), as the live bus would publish them."""
    items = series_by_symbol.values() if isinstance(series_by_symbol, Mapping) else series_by_symbol
    rows = [row for s in items for row in series_signals(s, config, interval)]
    return sorted(rows)
