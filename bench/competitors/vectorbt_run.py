"""edge70 in vectorbt (PyPI `vectorbt`, the open-source edition), one `Portfolio.from_signals` per symbol.

Idiom: boolean entry/exit arrays and per-candle order prices computed with pandas from the OHLC arrays, then
`Portfolio.from_signals` with `sl_stop` for the stop.  Open-source vectorbt has no limit orders (that is a
vectorbt PRO feature), so the one-candle buy limit is expressed the vectorbt way: the entry is signalled on
the candle after the signal only where that candle reaches the limit (`low <= limit`), at the price the
limit order would get (`min(open, limit)`).

    .venv/bin/python -m bench.competitors.vectorbt_run --interval 1d --out /tmp/vbt
"""

from __future__ import annotations

import time

_t0 = time.perf_counter()

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import vectorbt as vbt  # noqa: E402
from numba import njit  # noqa: E402
from vectorbt.portfolio.enums import SizeType, StopEntryPrice, StopExitPrice  # noqa: E402

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
    "limit_orders": "open-source vectorbt has no limit orders: the limit fill (min(open, limit) when low <= "
    "limit, else cancelled) is precomputed as the entry mask and entry price of the next candle",
    "sizing": "SizeType.Percent of cash: percent = (1 + fee) × fill / (15 × limit), which buys equity × 1 % / "
    "(limit × 15 %) coins after the fee; size_granularity 1e-8 floors the bought quantity (on entry candles "
    "only: on exits it would floor the sold position too and leave a 1e-8 remainder open)",
    "stop": "sl_stop=0.15 from the fill price (StopEntryPrice.FillPrice), exit at the stop or the open if the "
    "candle opens below it (StopExitPrice.StopMarket). vectorbt executes one order per candle and column and "
    "checks stops only from the candle after the entry, so a stop on the fill candle (ours: when the fill was "
    "at the open) cannot be expressed",
    "signal_exit": "vectorbt evaluates a stop before the user's exit signal in the same candle; an "
    "adjust_sl_func_nb drops the stop on a candle that opens with a signal exit, so the exit is at the open "
    "as in ours (signal exit at the open comes first)",
}


def edge70_signals(high: pd.Series, low: pd.Series) -> tuple[pd.Series, pd.Series]:
    evaluated = pd.Series(np.arange(len(high)) >= HISTORY, index=high.index)
    long_t = evaluated & (high > high.shift(1).rolling(LONG_LOOKBACK).max())
    short_t = evaluated & (low < low.shift(1).rolling(SHORT_LOOKBACK).min())
    step = pd.Series(np.where(long_t & ~short_t, 1.0, np.where(short_t & ~long_t, -1.0, np.nan)), index=high.index)
    direction = step.ffill().fillna(0.0)
    previous = direction.shift(1, fill_value=0.0)
    return (previous == -1) & (direction == 1), (previous == 1) & (direction == -1)


@njit(cache=True)
def no_stop_on_exit_candle_nb(c, exits):  # pragma: no cover - numba
    """adjust_sl_func_nb: a candle that opens with a signal exit is not also checked against the stop."""
    if exits[c.i, c.col]:
        return np.nan, False
    return c.curr_stop, c.curr_trail


def load(symbol: str, interval: str) -> pd.DataFrame:
    df = read_candles(symbol, interval)
    df.index = pd.to_datetime(df["open_time"], unit="ms", utc=True)
    return df


def run(symbol: str, df: pd.DataFrame, interval: str) -> list[Trade]:
    o, h, lo, c = df["open"], df["high"], df["low"], df["close"]
    long_sig, short_sig = edge70_signals(h, lo)
    limit = (c * (1 + BUY_LIMIT)).shift(1)  # the limit of an order placed at the previous close
    ordered = long_sig.shift(1, fill_value=False)
    entries = ordered & (lo <= limit)
    fill = np.minimum(o, limit)
    exits = short_sig.shift(1, fill_value=False)  # signal at the close → market exit at the next open
    price = o.where(~entries, fill)
    percent = ((1 + FEE) * fill / ((limit - limit * (1 - STOP)) / RISK)).where(entries, np.nan)
    pf = vbt.Portfolio.from_signals(
        c,
        entries=entries,
        exits=exits,
        price=price,
        size=percent,
        size_type=SizeType.Percent,
        size_granularity=pd.Series(QTY_STEP, index=c.index).where(entries, np.nan),  # floor buys only
        fees=FEE,
        init_cash=CASH,
        direction="longonly",
        open=o,
        high=h,
        low=lo,
        sl_stop=STOP,
        stop_entry_price=StopEntryPrice.FillPrice,
        stop_exit_price=StopExitPrice.StopMarket,
        adjust_sl_func_nb=no_stop_on_exit_candle_nb,
        adjust_sl_args=(exits.to_numpy()[:, None],),
        freq=interval,
    )
    recs = pf.trades.records_arr
    open_ms = df["open_time"].to_numpy()
    exit_mask = exits.to_numpy()
    out = []
    for r in recs:
        is_open = int(r["status"]) == 0  # TradeStatus.Open
        exit_idx = int(r["exit_idx"])
        reason = "end" if is_open else ("signal" if exit_mask[exit_idx] else "stop")
        out.append(
            Trade(
                symbol,
                int(open_ms[int(r["entry_idx"])]),
                float(r["entry_price"]),
                int(open_ms[exit_idx]),
                float(r["exit_price"]),
                float(r["size"]),
                float(r["entry_fees"] + r["exit_fees"]),
                float(r["pnl"]),
                reason,
            )
        )
    return out


def main() -> None:
    run_cli("vectorbt", vbt.__version__, IMPORT_S, load, run, notes=NOTES)


if __name__ == "__main__":
    main()
