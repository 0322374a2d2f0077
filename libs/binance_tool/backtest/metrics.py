"""Performance metrics of a backtest, total and per symbol (definitions in docs/backtesting.md).

Trade statistics use closed trades (exit by signal or stop) in exit order, with exact Decimal P&L net of fees;
positions still open at the end count as open profit.  Curve statistics use the value at each UTC day's last
close: daily returns for Sharpe / Sortino (annualised with √365, crypto trades every day, risk-free rate 0),
drawdowns from the running peak.  Per symbol, the curve is the initial capital plus that symbol's cumulative
realised and unrealised P&L (its contribution to the portfolio).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import numpy as np

from binance_tool.backtest.model import BacktestResult, FloatArray, IntArray, Trade

DAY_MS = 86_400_000
ZERO = Decimal(0)


def _money(d: Decimal | float | None) -> str | None:
    if d is None:
        return None
    q = Decimal(d) if isinstance(d, Decimal) else Decimal(repr(d))
    return format(q.quantize(Decimal("0.01")), "f")


def _ratio(x: float | None, digits: int = 4) -> float | None:
    return None if x is None or not math.isfinite(x) else round(x, digits)


def _drawdown(curve: FloatArray, times: IntArray) -> tuple[float, float, float]:
    """(max drawdown %, max drawdown in money, longest time under water in days)."""
    if curve.shape[0] == 0:
        return 0.0, 0.0, 0.0
    peak = np.maximum.accumulate(curve)
    dd_abs = peak - curve
    with np.errstate(divide="ignore", invalid="ignore"):
        dd_pct = np.where(peak > 0, dd_abs / peak, 0.0)
    under = dd_abs > 1e-9
    longest = 0.0
    if under.any():  # each run under water lasts from the peak before it to the recovery (or the end)
        edges = np.diff(np.concatenate(([False], under, [False])).astype(np.int8))
        first, last = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1) - 1
        peak_at = np.maximum(first - 1, 0)
        recovered_at = np.minimum(last + 1, curve.shape[0] - 1)
        longest = float((times[recovered_at] - times[peak_at]).max()) / DAY_MS
    return float(dd_pct.max()) * 100, float(dd_abs.max()), longest


def _streaks(wins: Sequence[bool]) -> tuple[int, int]:
    best_w = best_l = run = 0
    last: bool | None = None
    for w in wins:
        run = run + 1 if w == last else 1
        last = w
        if w:
            best_w = max(best_w, run)
        else:
            best_l = max(best_l, run)
    return best_w, best_l


def compute_metrics(
    trades: Sequence[Trade],
    curve: FloatArray,
    times: IntArray,
    exposure_pct: float | None,
    initial: Decimal,
    net_profit: float | None = None,
) -> dict[str, Any]:
    """Metrics of one curve (sampled daily) and its trades."""
    closed = sorted((t for t in trades if t.closed), key=lambda t: (t.exit_time_ms, t.symbol))
    pnls = [t.pnl for t in closed]
    wins = [p for p in pnls if p > 0]
    losses = [p for p in pnls if p <= 0]
    gross_win, gross_loss = sum(wins, ZERO), -sum(losses, ZERO)
    open_profit = sum((t.pnl for t in trades if not t.closed), ZERO)
    final = float(curve[-1]) if curve.shape[0] else float(initial)
    growth = final - float(initial)
    net = growth if net_profit is None else net_profit
    span_days = (times[-1] - times[0]) / DAY_MS + 1 if times.shape[0] else 0.0
    years = span_days / 365.0
    ratio = final / float(initial)
    cagr = (ratio ** (1 / years) - 1) * 100 if years > 0 and ratio > 0 else None
    dd_pct, dd_abs, dd_days = _drawdown(curve, times)
    returns = np.diff(curve) / curve[:-1] if curve.shape[0] > 1 else np.empty(0)
    returns = returns[np.isfinite(returns)]
    sharpe = sortino = None
    if returns.shape[0] > 1 and returns.std(ddof=1) > 0:
        sharpe = float(returns.mean() / returns.std(ddof=1) * math.sqrt(365))
        downside = np.sqrt(np.mean(np.minimum(returns, 0.0) ** 2))
        sortino = float(returns.mean() / downside * math.sqrt(365)) if downside > 0 else None
    avg_win = gross_win / len(wins) if wins else None
    avg_loss = -gross_loss / len(losses) if losses else None
    streak_w, streak_l = _streaks([p > 0 for p in pnls])
    lengths = [(t.exit_time_ms - t.entry_time_ms) / DAY_MS for t in closed]
    return {
        "final_value": _money(final),
        "net_profit": _money(net),
        "roi_pct": _ratio(growth / float(initial) * 100),
        "cagr_pct": _ratio(cagr),
        "trades": len(closed),
        "open_trades": len(trades) - len(closed),
        "winners_pct": _ratio(len(wins) / len(closed) * 100) if closed else None,
        "avg_trade_length_days": _ratio(sum(lengths) / len(lengths), 2) if lengths else None,
        "max_drawdown_pct": _ratio(dd_pct),
        "max_drawdown_abs": _money(dd_abs),
        "max_drawdown_duration_days": _ratio(dd_days, 1),
        "max_loss_per_trade": _money(min(pnls)) if pnls else None,
        "max_consecutive_wins": streak_w,
        "max_consecutive_losses": streak_l,
        "profit_to_max_drawdown": _ratio(growth / dd_abs) if dd_abs > 0 else None,
        "avg_win": _money(avg_win),
        "avg_loss": _money(avg_loss),
        "avg_win_to_avg_loss": _ratio(float(avg_win / -avg_loss)) if avg_win and avg_loss else None,
        "profit_factor": _ratio(float(gross_win / gross_loss)) if gross_loss > 0 else None,
        "expectancy": _money(sum(pnls, ZERO) / len(pnls)) if pnls else None,
        "sharpe": _ratio(sharpe),
        "sortino": _ratio(sortino),
        "calmar": _ratio(cagr / dd_pct) if cagr is not None and dd_pct > 0 else None,
        "exposure_time_pct": _ratio(exposure_pct),
        "open_profit": _money(open_profit),
        "fees_paid": _money(sum((t.fees for t in trades), ZERO)),
    }


def contribution_curve(pnl: FloatArray, previous_value: FloatArray, initial: float) -> FloatArray:
    """A symbol's share of the portfolio's daily returns, compounded: each day's P&L change of the symbol divided
    by the portfolio value the day before.  (Its P&L in money alone would overstate late, large positions.)"""
    change = np.diff(np.concatenate(([0.0], pnl)))
    with np.errstate(divide="ignore", invalid="ignore"):
        returns = np.where(previous_value > 0, change / previous_value, 0.0)
    curve: FloatArray = initial * np.cumprod(1 + returns)
    return curve


def report_metrics(result: BacktestResult) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(total, per symbol)."""
    initial = result.settings.initial_capital
    bars = max(result.bars, 1)
    total = compute_metrics(result.trades, result.value, result.times, result.exposed_bars / bars * 100, initial)
    per_symbol: dict[str, dict[str, Any]] = {}
    by_symbol: dict[str, list[Trade]] = {s: [] for s in result.symbols}
    for t in result.trades:
        by_symbol[t.symbol].append(t)
    previous_value = np.concatenate(([float(initial)], result.value[:-1]))
    for k, symbol in enumerate(result.symbols):
        pnl = result.symbol_pnl[:, k]
        curve = contribution_curve(pnl, previous_value, float(initial))
        exposure = float(result.symbol_exposed_bars[k]) / bars * 100
        net = float(pnl[-1]) if pnl.shape[0] else 0.0
        per_symbol[symbol] = compute_metrics(by_symbol[symbol], curve, result.times, exposure, initial, net)
    return total, per_symbol
