"""edge70 run by established backtesting libraries, for `bench/backtest_compare.py`.

One module per library; each is a whole program that loads the candle CSVs itself, runs the strategy on every
requested symbol in isolation (one account of 10,000 USDT per symbol) and writes `<out>/trades.csv` in the
column layout of `binance-tool backtest` plus `<out>/meta.json` (phase timings, library version, notes):

    .venv/bin/python -m bench.competitors.backtesting_py --interval 1d --out /tmp/x [--symbols BTCUSDT ETHUSDT]

This module holds only what is not library specific: the parameters, the data paths, CSV parsing into a
plain pandas frame, the output format and the command line.  The signal and execution code lives in each
library's module, written in that library's idiom.
"""

from __future__ import annotations

import argparse
import csv
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
DATA_ROOT = (REPO / ".." / "shared" / "data" / "binance-spot").resolve()
INTERVALS = ("1d", "1h")
INTERVAL_MS = {"1d": 86_400_000, "1h": 3_600_000}

# The strategy's parameters (the defaults of `binance-tool backtest`).
LONG_LOOKBACK = 44
SHORT_LOOKBACK = 21
HISTORY = max(LONG_LOOKBACK, SHORT_LOOKBACK)
BUY_LIMIT = 0.005  # limit = signal close × (1 + 0.5 %)
STOP = 0.15  # stop = fill × (1 − 15 %)
RISK = 0.01  # 1 % of equity lost if the stop (planned at limit × 0.85) is hit
FEE = 0.001  # per side, on notional
CASH = 10_000.0
QTY_STEP = 1e-8  # quantity granularity (ours: `--exchange-info none` → 1e-8 units)

TRADE_COLUMNS = (
    "symbol",
    "entry_time_ms",
    "entry_price",
    "exit_time_ms",
    "exit_price",
    "quantity",
    "fees",
    "pnl",
    "exit_reason",
)


def candles_dir(interval: str) -> Path:
    return DATA_ROOT / interval


def candle_path(symbol: str, interval: str) -> Path:
    return candles_dir(interval) / (f"{symbol}.csv" if interval == "1d" else f"{symbol}.csv.gz")


def all_symbols(interval: str = "1d") -> list[str]:
    return sorted(p.name.split(".")[0] for p in candles_dir(interval).iterdir() if p.name.endswith((".csv", ".gz")))


def read_candles(symbol: str, interval: str) -> pd.DataFrame:
    """The CSV as float64 columns open_time (ms, candle OPEN time UTC), open, high, low, close, volume."""
    df = pd.read_csv(candle_path(symbol, interval), dtype="float64")
    df["open_time"] = df["open_time"].astype("int64")
    return df


def planned_quantity(equity: float, limit: float) -> float:
    """1 % of equity at risk between the limit price and the stop planned from it (limit × 0.85)."""
    return equity * RISK / (limit - limit * (1 - STOP))


@dataclass
class Trade:
    symbol: str
    entry_time_ms: int
    entry_price: float
    exit_time_ms: int
    exit_price: float
    quantity: float
    fees: float
    pnl: float
    exit_reason: str  # signal | stop | end


def end_trade(symbol: str, entry_time_ms: int, entry_price: float, quantity: float, last: pd.Series) -> Trade:
    """A position still open at the end, marked at the last close without an exit fee (our report's rule)."""
    fee = quantity * entry_price * FEE
    return Trade(
        symbol,
        int(entry_time_ms),
        float(entry_price),
        int(last["open_time"]),
        float(last["close"]),
        float(quantity),
        fee,
        quantity * (float(last["close"]) - entry_price) - fee,
        "end",
    )


@dataclass
class RunInfo:
    library: str
    version: str
    interval: str
    symbols: list[str] = field(default_factory=list)
    candles: int = 0
    import_s: float = 0.0
    load_s: float = 0.0
    run_s: float = 0.0
    first_symbol_run_s: float = 0.0  # includes one-off costs such as numba compilation
    notes: dict[str, Any] = field(default_factory=dict)


def write_output(out: Path, trades: Iterable[Trade], info: RunInfo) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with (out / "trades.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(TRADE_COLUMNS)
        for t in trades:
            row = asdict(t)
            w.writerow([repr(float(v)) if isinstance(v, float) else v for v in (row[c] for c in TRADE_COLUMNS)])
    (out / "meta.json").write_text(json.dumps(asdict(info), indent=2) + "\n")


def parse_args(library: str) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=f"edge70 backtest with {library} (isolated per symbol)")
    p.add_argument("--interval", choices=INTERVALS, default="1d")
    p.add_argument("--symbols", nargs="*", help="default: every symbol of the interval's data folder")
    p.add_argument("--out", type=Path, required=True, help="folder for trades.csv and meta.json")
    return p.parse_args()


def run_cli(
    library: str,
    version: str,
    import_s: float,
    load: Callable[[str, str], Any],
    run: Callable[[str, Any, str], list[Trade]],
    setup: Callable[[str, list[str]], None] | None = None,
    notes: dict[str, Any] | None = None,
) -> None:
    """Load every symbol (`load(symbol, interval)`), then backtest each in isolation (`run(symbol, data, interval)`)."""
    args = parse_args(library)
    symbols = args.symbols or all_symbols(args.interval)
    info = RunInfo(library, version, args.interval, symbols, import_s=import_s, notes=notes or {})
    t = time.perf_counter()
    data = {s: load(s, args.interval) for s in symbols}
    info.load_s = time.perf_counter() - t
    info.candles = sum(len(d[0] if isinstance(d, tuple) else d) for d in data.values())
    t = time.perf_counter()
    if setup is not None:
        setup(args.interval, symbols)
    trades = []
    for n, s in enumerate(symbols):
        trades += run(s, data[s], args.interval)
        if n == 0:
            info.first_symbol_run_s = time.perf_counter() - t
    info.run_s = time.perf_counter() - t
    write_output(args.out, trades, info)
