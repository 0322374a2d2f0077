"""Rebuild the equity curve (vectorised, float) from the simulation's cash movements and holding spans."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from binance_tool.backtest.model import BacktestResult, BacktestSettings
from binance_tool.market.units import PRICE_SCALE

if TYPE_CHECKING:
    from binance_tool.backtest.engine import _Market, _Simulation


def _close_matrix(markets: dict[str, _Market], symbols: list[str], n: int) -> np.ndarray:
    """Close of every symbol at every global time, carried forward over missing candles (0 before listing)."""
    out = np.zeros((n, len(symbols)), dtype=np.float64)
    for k, s in enumerate(symbols):
        mk = markets[s]
        present = mk.latest
        closes = mk.series.close.astype(np.float64) / PRICE_SCALE
        if closes.shape[0] == 0:  # not listed yet at the end of the window
            continue
        out[:, k] = np.where(present >= 0, closes[np.maximum(present, 0)], 0.0)
    return out


def build_result(
    sim: _Simulation,
    settings: BacktestSettings,
    interval: str,
    symbols: list[str],
    markets: dict[str, Any],
    times: np.ndarray,
    candles: int,
) -> BacktestResult:
    n, width = times.shape[0], len(symbols)
    qty_delta = np.zeros((n + 1, width), dtype=np.float64)
    for order, start, stop, qty in sim.holding_spans:
        qty_delta[start, order] += qty
        qty_delta[stop, order] -= qty
    quantity = np.cumsum(qty_delta[:n], axis=0)
    quantity[np.abs(quantity) < 1e-12] = 0.0
    held = quantity * _close_matrix(markets, symbols, n)
    cash_delta = np.zeros((n, width), dtype=np.float64)
    if sim.cash_moves:
        t, k, amount = (np.array(col) for col in zip(*sim.cash_moves, strict=True))
        np.add.at(cash_delta, (t.astype(np.int64), k.astype(np.int64)), amount.astype(np.float64))
    symbol_cash = np.cumsum(cash_delta, axis=0)
    cash = float(settings.initial_capital) + symbol_cash.sum(axis=1)
    holdings = held.sum(axis=1)
    exposed = quantity > 0
    return BacktestResult(
        settings=settings,
        interval=interval,
        symbols=symbols,
        filters={s: markets[s].filters for s in symbols},
        candles=candles,
        times=times,
        value=cash + holdings,
        cash=cash,
        holdings=holdings,
        open_positions=exposed.sum(axis=1).astype(np.int64),
        symbol_pnl=symbol_cash + held,
        symbol_exposed=exposed,
        trades=sorted(sim.trades, key=lambda tr: (tr.entry_time_ms, tr.symbol)),
        signals=sim.signals,
    )
