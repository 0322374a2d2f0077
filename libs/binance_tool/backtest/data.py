"""Backtest inputs: validated candles of a directory and each symbol's exchange filters."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from binance_tool.market.candles import CandleDataError, CandleSeries, candle_files
from binance_tool.market.fast_load import gaps, infer_interval, load_series_file, load_series_files
from binance_tool.trading import (
    UNFILTERED,
    FilterError,
    SymbolFilters,
    derived_filter_values,
    filters_from_exchange_info,
)


@dataclass
class BacktestInputs:
    series: dict[str, CandleSeries]
    filters: dict[str, SymbolFilters]
    interval: str
    filters_source: str
    warnings: list[str] = field(default_factory=list)


def data_decimals(s: CandleSeries) -> int:
    """The most decimals any price of the series uses."""
    prices = np.concatenate([s.open, s.high, s.low, s.close])
    for decimals in range(9):
        if not (prices % 10 ** (8 - decimals)).any():
            return decimals
    return 8


def derived_filters(s: CandleSeries) -> SymbolFilters:
    """Filters for a symbol without an exchangeInfo entry (same rule as the exchange simulator)."""
    values = derived_filter_values(float(np.median(s.close)) / 1e8, data_decimals(s))
    entry = {"symbol": s.symbol, "filters": [{"filterType": k, **v} for k, v in values.items()]}
    return dataclasses.replace(SymbolFilters.from_symbol_entry(entry), min_notional=UNFILTERED.min_notional)


def find_snapshot(candles_dir: Path) -> Path | None:
    """`exchange_info*.json` beside or inside the candle directory (the shared data layout), newest name first."""
    for where in (candles_dir, candles_dir.resolve().parent):
        found = sorted(where.glob("exchange_info*.json"), reverse=True)
        if found:
            return found[0]
    return None


def symbol_filters(
    series: dict[str, CandleSeries], exchange_info: str, candles_dir: Path
) -> tuple[dict[str, SymbolFilters], str, list[str]]:
    if exchange_info == "none":
        return {s: dataclasses.replace(UNFILTERED, symbol=s) for s in series}, "none (1e-8 grid, no minimums)", []
    path = find_snapshot(candles_dir) if exchange_info == "auto" else Path(exchange_info)
    if path is None:
        derived = {s: derived_filters(v) for s, v in series.items()}
        return derived, "derived from the data (no exchangeInfo snapshot found)", []
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
        known = filters_from_exchange_info(document, series)
    except OSError as exc:
        raise CandleDataError(f"{path}: cannot read exchange info: {exc.strerror or exc}") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CandleDataError(f"{path}: not a JSON exchangeInfo document: {exc}") from None
    except FilterError as exc:
        raise CandleDataError(f"{path}: {exc}") from None
    missing = [s for s in series if s not in known]
    warnings = []
    if missing:
        warnings.append(
            f"{path.name} has no entry for {', '.join(missing)}: using filters derived from the data "
            "(tick/step from the price level, minNotional 10 as BTCUSDT)"
        )
        template_min = known[next(iter(known))].min_notional if known else UNFILTERED.min_notional
        for s in missing:
            known[s] = dataclasses.replace(derived_filters(series[s]), min_notional=template_min)
    return known, str(path), warnings


def load_backtest_inputs(
    candles_dir: Path, symbols: Sequence[str] | None, interval: str | None, exchange_info: str
) -> BacktestInputs:
    files = candle_files(candles_dir, symbols)
    if interval is None:
        first = next(iter(files))
        interval = infer_interval({first: load_series_file(files[first], first)})
    series = load_series_files(files, interval)
    if empty := [s for s, v in series.items() if len(v) == 0]:
        raise CandleDataError(f"{candles_dir}: no candles for {', '.join(empty)}")
    warnings = []
    for symbol, v in series.items():
        found = gaps(v, interval)
        if found:
            missing = sum(n for _, n in found)
            warnings.append(
                f"{symbol}: {missing} missing {interval} candle(s) in {len(found)} gap(s), first after open time "
                f"{found[0][0]}; lookbacks count candles and an order placed before a gap acts on the next candle"
            )
    filters, source, filter_warnings = symbol_filters(series, exchange_info, candles_dir)
    return BacktestInputs(series, filters, interval, source, warnings + filter_warnings)
