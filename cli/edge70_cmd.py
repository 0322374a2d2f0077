"""`binance-tool edge70 ...`: the edge70 rule on candle files, through the same pure code as the service."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from pathlib import Path

import numpy as np
import typer
from rich.console import Console
from rich.table import Table

from binance_tool.edge70 import Edge70Config
from binance_tool.edge70.offline import all_signals
from binance_tool.market.candles import INTERVAL_MS, CandleDataError, load_candles_dir

app = typer.Typer(help="edge70: daily Donchian-channel breakout", no_args_is_help=True)
err = Console(stderr=True)


class OutputFormat(StrEnum):
    JSONL = "jsonl"
    TABLE = "table"


@app.command("signals")
def signals(
    candles_dir: Path = typer.Option(..., "--candles-dir", help="directory of <SYMBOL>.csv[.gz] daily candles"),
    long: int = typer.Option(44, "--long", min=1, help="long lookback (candles before the tested one)"),
    short: int = typer.Option(21, "--short", min=1, help="short lookback (candles before the tested one)"),
    symbols: str | None = typer.Option(None, "--symbols", help="comma-separated subset, e.g. BTCUSDT,ETHUSDT"),
    output: OutputFormat = typer.Option(OutputFormat.JSONL, "--format", help="jsonl or table"),
) -> None:
    """Print every edge70 signal (direction changes from a known direction) in time order."""
    try:
        series = load_candles_dir(candles_dir, symbols.split(",") if symbols else None, interval="1d")
    except CandleDataError as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    step = INTERVAL_MS["1d"]
    for s in series.values():
        gaps = np.flatnonzero(np.diff(s.open_time_ms) != step)
        for g in gaps[:5]:
            err.print(
                f"[yellow]warning:[/yellow] {s.symbol}: {int((s.open_time_ms[g + 1] - s.open_time_ms[g]) // step) - 1}"
                f" missing candle(s) after open_time {int(s.open_time_ms[g])}; lookbacks count candles"
            )
    rows = all_signals(series, Edge70Config(long, short))
    if output is OutputFormat.JSONL:
        out = sys.stdout
        for row in rows:
            out.write(json.dumps(row.as_dict()) + "\n")
        return
    table = Table(title=f"edge70 signals ({long}L/{short}S) — {len(rows)} signals")
    for col in ("symbol", "direction", "previous_direction", "candle_open_time", "signal_price", "signal_timestamp_ms"):
        table.add_column(col, justify="right" if "time" in col or "price" in col else "left")
    for row in rows:
        d = row.as_dict()
        style = "green" if row.direction == "long" else "red"
        table.add_row(*(str(d[c]) for c in d), style=style)
    Console().print(table)
