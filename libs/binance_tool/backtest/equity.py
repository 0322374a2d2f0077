"""Rebuild the equity curve (vectorised, float) from the simulation's cash movements and holding spans.

The curve is sampled at the last candle of each UTC day (the value the metrics and equity.csv use); exposure is
counted per candle.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from binance_tool.backtest.model import BacktestResult, BacktestSettings
from binance_tool.market.units import PRICE_SCALE

if TYPE_CHECKING:
    from binance_tool.backtest.engine import _Market, _Simulation

DAY_MS = 86_400_000


def daily_points(times: np.ndarray) -> np.ndarray:
    """Index of the last candle of each UTC day."""
    if times.shape[0] == 0:
        return np.empty(0, dtype=np.int64)
    day = times // DAY_MS
    return np.append(np.flatnonzero(np.diff(day)), times.shape[0] - 1).astype(np.int64)


def _daily_closes(markets: dict[str, _Market], symbols: list[str], points: np.ndarray) -> np.ndarray:
    """Close of every symbol at every sample point, carried forward over missing candles (0 before listing)."""
    out = np.zeros((points.shape[0], len(symbols)), dtype=np.float64)
    for k, s in enumerate(symbols):
        mk = markets[s]
        if len(mk.series) == 0:  # not listed yet at the end of the window
            continue
        latest = mk.latest[points]
        closes = mk.series.close[np.maximum(latest, 0)].astype(np.float64) / PRICE_SCALE
        out[:, k] = np.where(latest >= 0, closes, 0.0)
    return out


def build_result(
    sim: _Simulation,
    settings: BacktestSettings,
    interval: str,
    symbols: list[str],
    markets: dict[str, _Market],
    times: np.ndarray,
    candles: int,
) -> BacktestResult:
    n, width = times.shape[0], len(symbols)
    points = daily_points(times)
    days = points.shape[0]
    qty_delta = np.zeros((days + 1, width), dtype=np.float64)
    bar_delta = np.zeros(n + 1, dtype=np.int64)
    symbol_bars = np.zeros(width, dtype=np.int64)
    if sim.holding_spans:
        order, start, stop, qty = (np.array(col) for col in zip(*sim.holding_spans, strict=True))
        order, start, stop = order.astype(np.int64), start.astype(np.int64), stop.astype(np.int64)
        # held at sample point p when start <= points[p] < stop
        np.add.at(qty_delta, (np.searchsorted(points, start), order), qty)
        np.add.at(qty_delta, (np.searchsorted(points, stop), order), -qty)
        np.add.at(bar_delta, start, 1)
        np.add.at(bar_delta, stop, -1)
        np.add.at(symbol_bars, order, stop - start)
    quantity = np.cumsum(qty_delta[:days], axis=0)
    quantity[np.abs(quantity) < 1e-12] = 0.0
    held = quantity * _daily_closes(markets, symbols, points)
    cash_delta = np.zeros((days, width), dtype=np.float64)
    if sim.cash_moves:
        t, k, amount = (np.array(col) for col in zip(*sim.cash_moves, strict=True))
        np.add.at(cash_delta, (np.searchsorted(points, t.astype(np.int64)), k.astype(np.int64)), amount)
    symbol_cash = np.cumsum(cash_delta, axis=0)
    cash = float(settings.initial_capital) + symbol_cash.sum(axis=1)
    holdings = held.sum(axis=1)
    open_per_bar = np.cumsum(bar_delta[:n])
    return BacktestResult(
        settings=settings,
        interval=interval,
        symbols=symbols,
        filters={s: markets[s].filters for s in symbols},
        candles=candles,
        bars=n,
        times=times[points],
        value=cash + holdings,
        cash=cash,
        holdings=holdings,
        open_positions=open_per_bar[points],
        symbol_pnl=symbol_cash + held,
        exposed_bars=int((open_per_bar > 0).sum()),
        symbol_exposed_bars=symbol_bars,
        trades=sorted(sim.trades, key=lambda tr: (tr.entry_time_ms, tr.symbol)),
        signals=sim.signals,
    )
