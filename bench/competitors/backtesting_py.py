"""edge70 in backtesting.py (PyPI `backtesting`), one `FractionalBacktest` per symbol.

Idiom: a `Strategy` whose signals are `self.I` indicators and whose `next()` places a limit buy, cancels it
after one candle, attaches the stop to the filled trade and closes on the short signal.  backtesting.py's
broker fills a long limit order at `min(open, limit)` when `low <= limit` (exactly our rule), market orders
(`position.close()`) at the next open, and a stop-loss order at `min(open, sl)` once `low <= sl`.

    .venv/bin/python -m bench.competitors.backtesting_py --interval 1d --out /tmp/bt-py
"""

from __future__ import annotations

import os
import time
import warnings

_t0 = time.perf_counter()
os.environ.setdefault("TQDM_DISABLE", "1")  # backtesting.py shows a tqdm bar while running when tqdm is installed

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from backtesting import Strategy, __version__  # noqa: E402
from backtesting.lib import FractionalBacktest  # noqa: E402

from bench.competitors import (  # noqa: E402
    BUY_LIMIT,
    CASH,
    FEE,
    HISTORY,
    LONG_LOOKBACK,
    QTY_STEP,
    RISK,
    SHORT_LOOKBACK,
    STOP,
    Trade,
    read_candles,
    run_cli,
)

IMPORT_S = time.perf_counter() - _t0

NOTES = {
    "units": "FractionalBacktest with fractional_unit=1e-8: sizes are whole 1e-8 coin units (floored)",
    "stop": "the 15 % stop is attached as trade.sl in next() of the fill candle, so it is active from the "
    "candle after the fill. backtesting.py cannot check a stop on the fill candle of a limit order: even a "
    "stop-loss given with the order (buy(limit=..., sl=...)) is deferred to the next candle (issue #119), and "
    "the stop must be fill × 0.85, unknown when the order is placed",
    "end": "open trades are read from the strategy after the run and marked at the last close (finalize_trades "
    "would close them at the last candle's OPEN)",
}


def edge70_signals(high: np.ndarray, low: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(long signal, short signal) per candle as 0/1 floats; a signal is a change from a known direction."""
    n = len(high)
    h = pd.Series(high)
    lo = pd.Series(low)
    evaluated = np.arange(n) >= HISTORY
    long_t = evaluated & (h > h.shift(1).rolling(LONG_LOOKBACK).max()).to_numpy()
    short_t = evaluated & (lo < lo.shift(1).rolling(SHORT_LOOKBACK).min()).to_numpy()
    step = np.where(long_t & ~short_t, 1.0, np.where(short_t & ~long_t, -1.0, np.nan))
    direction = pd.Series(step).ffill().fillna(0.0).to_numpy()
    previous = np.concatenate(([0.0], direction[:-1]))
    long_sig = (previous == -1) & (direction == 1)
    short_sig = (previous == 1) & (direction == -1)
    return long_sig.astype(float), short_sig.astype(float)


class Edge70(Strategy):
    def init(self) -> None:
        self.long_sig, self.short_sig = self.I(
            edge70_signals, self.data.High, self.data.Low, name=("long", "short"), overlay=False, plot=False
        )
        self.signal_exit_bars: set[int] = set()  # candles whose close decided a signal exit

    def next(self) -> None:
        i = len(self.data) - 1
        # An entry order placed one candle ago and not filled in this candle: timeout, cancel.
        for order in self.orders:
            if not order.is_contingent:
                order.cancel()
        # A trade filled in this candle gets its stop (stop-loss order from the next candle on).
        for trade in self.trades:
            if trade.sl is None:
                trade.sl = trade.entry_price * (1 - STOP)
        if self.position and self.short_sig[-1]:
            self.position.close()  # market order: next candle's open
            self.signal_exit_bars.add(i)
        elif not self.position and self.long_sig[-1]:
            limit = self.data.Close[-1] * (1 + BUY_LIMIT)
            # Prices are per fractional unit (1e-8 coin), so this is already the count of units.
            units = int(self.equity * RISK / (limit - limit * (1 - STOP)))
            if units >= 1:
                self.buy(size=units, limit=limit)


def load(symbol: str, interval: str) -> pd.DataFrame:
    raw = read_candles(symbol, interval)
    df = raw.rename(columns={"open": "Open", "high": "High", "low": "Low", "close": "Close", "volume": "Volume"})
    df.index = pd.to_datetime(raw["open_time"], unit="ms", utc=True).dt.tz_localize(None)
    df.index.name = None
    return df


def run(symbol: str, df: pd.DataFrame, interval: str) -> list[Trade]:
    bt = FractionalBacktest(
        df[["Open", "High", "Low", "Close", "Volume"]],
        Edge70,
        cash=CASH,
        commission=FEE,
        trade_on_close=False,
        exclusive_orders=False,
        finalize_trades=False,
        fractional_unit=QTY_STEP,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "SL/TP in the same bar as a limit fill", "some trades remain open"
        stats = bt.run()
    strategy: Edge70 = stats["_strategy"]
    open_ms = df["open_time"].to_numpy()
    out = []
    for row in stats["_trades"].itertuples(index=False):
        reason = "signal" if (row.ExitBar - 1) in strategy.signal_exit_bars else "stop"
        qty = float(row.Size)
        fees = FEE * qty * (row.EntryPrice + row.ExitPrice)
        out.append(
            Trade(
                symbol,
                int(open_ms[row.EntryBar]),
                float(row.EntryPrice),
                int(open_ms[row.ExitBar]),
                float(row.ExitPrice),
                qty,
                fees,
                float(row.PnL),
                reason,
            )
        )
    last = df.iloc[-1]
    for trade in strategy.trades:  # still open: prices are per fractional unit here
        qty = trade.size * QTY_STEP
        entry = trade.entry_price / QTY_STEP
        fee = qty * entry * FEE
        close = float(last["Close"])
        out.append(
            Trade(
                symbol,
                int(open_ms[trade.entry_bar]),
                entry,
                int(last["open_time"]),
                close,
                qty,
                fee,
                qty * (close - entry) - fee,
                "end",
            )
        )
    return out


def main() -> None:
    run_cli("backtesting.py", __version__, IMPORT_S, load, run, notes=NOTES)


if __name__ == "__main__":
    main()
