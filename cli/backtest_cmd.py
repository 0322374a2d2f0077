"""`binance-tool backtest`: edge70 with the production sizing and filter code on a candle directory."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from binance_tool.market.candles import INTERVAL_MS, CandleDataError

err = Console(stderr=True)
DAY_MS = 86_400_000
MAX_WARNINGS = 3


class UsageError(ValueError):
    """Bad command-line input (exit code 2)."""


def _date_ms(text: str, option: str) -> int:
    try:
        day = datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise UsageError(f"{option} must be a date YYYY-MM-DD (UTC), got {text!r}") from None
    return int(day.timestamp() * 1000)


def _decimal(text: str, option: str) -> Decimal:
    try:
        value = Decimal(text.strip().rstrip("%")) / (100 if text.strip().endswith("%") else 1)
    except InvalidOperation:
        raise UsageError(f"{option} must be a number (or a percentage like 1%), got {text!r}") from None
    if not value.is_finite():
        raise UsageError(f"{option} must be finite, got {text!r}")
    return value


def backtest(
    candles_dir: Path = typer.Option(..., "--candles-dir", help="directory of <SYMBOL>.csv[.gz] candles"),
    out: Path = typer.Option(..., "--out", help="output directory (created; files are overwritten)"),
    date_from: str | None = typer.Option(
        None, "--from", help="first trading day YYYY-MM-DD (UTC); earlier candles warm up"
    ),
    date_to: str | None = typer.Option(
        None, "--to", help="last day YYYY-MM-DD (UTC) included; later candles are not read"
    ),
    symbols: str | None = typer.Option(None, "--symbols", help="comma-separated subset, e.g. BTCUSDT,ETHUSDT"),
    interval: str | None = typer.Option(None, "--interval", help="candle interval (default: inferred from the data)"),
    long: int = typer.Option(44, "--long", min=1, help="edge70 long lookback (candles)"),
    short: int = typer.Option(21, "--short", min=1, help="edge70 short lookback (candles)"),
    risk_per_trade: str = typer.Option("0.01", "--risk-per-trade", help="fraction of portfolio value risked per trade"),
    max_position_pct: str = typer.Option("0.20", "--max-position-pct", help="max position size (fraction of value)"),
    max_open_risk: str = typer.Option("0.10", "--max-open-risk", help="max open portfolio risk (fraction of value)"),
    max_open_positions: int = typer.Option(10, "--max-open-positions", min=1, help="max open positions and entries"),
    open_risk_basis: str = typer.Option("entry", "--open-risk-basis", help="entry or mark"),
    buy_limit_pct: str = typer.Option("0.005", "--buy-limit-pct", help="entry limit above the signal price"),
    stop_pct: str = typer.Option("0.15", "--stop-pct", help="stop distance below the fill price"),
    entry_timeout: int = typer.Option(1, "--entry-timeout", min=1, help="candles an entry order stays open"),
    initial_capital: str = typer.Option("10000", "--initial-capital", help="starting quote balance"),
    fee: str = typer.Option("0.001", "--fee", help="fee rate per side, charged in the quote asset"),
    exchange_info: str = typer.Option(
        "auto", "--exchange-info", help="exchangeInfo JSON FILE, 'auto' (a snapshot beside the candle dir) or 'none'"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show a progress bar"),
) -> None:
    """Backtest edge70 through the production sizing, filter and stop code; write trades, signals, equity and a
    report (JSON + offline HTML) into --out."""
    try:
        _run(locals())
    except (UsageError, CandleDataError, ValueError) as exc:
        err.print(f"[red]error:[/red] {exc}")
        raise typer.Exit(2) from None
    except OSError as exc:  # --out not writable
        err.print(f"[red]error:[/red] cannot write the output: {exc}")
        raise typer.Exit(2) from None


def _run(opts: dict[str, object]) -> None:
    from binance_tool.backtest import BacktestSettings, run_backtest
    from binance_tool.backtest.data import load_backtest_inputs
    from binance_tool.backtest.output import run_info, write_outputs
    from binance_tool.edge70.rules import Edge70Config
    from binance_tool.trading import ExecutionSettings, RiskBasis, SizingRules

    started = time.perf_counter()
    start_ms = _date_ms(str(opts["date_from"]), "--from") if opts["date_from"] else None
    end_ms = _date_ms(str(opts["date_to"]), "--to") + DAY_MS - 1 if opts["date_to"] else None
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise UsageError(f"--from {opts['date_from']} is after --to {opts['date_to']}")
    if opts["interval"] is not None and opts["interval"] not in INTERVAL_MS:
        raise UsageError(f"--interval must be one of {', '.join(INTERVAL_MS)}, got {opts['interval']!r}")
    basis = str(opts["open_risk_basis"])
    if basis not in {b.value for b in RiskBasis}:
        raise UsageError(f"--open-risk-basis must be entry or mark, got {basis!r}")
    fee_rate = _decimal(str(opts["fee"]), "--fee")
    sizing = SizingRules(
        risk_per_trade=_decimal(str(opts["risk_per_trade"]), "--risk-per-trade"),
        max_position_pct=_decimal(str(opts["max_position_pct"]), "--max-position-pct"),
        max_open_portfolio_risk=_decimal(str(opts["max_open_risk"]), "--max-open-risk"),
        max_open_positions=int(str(opts["max_open_positions"])),
        open_risk_basis=RiskBasis(basis),
        fee_reserve_rate=fee_rate,
    )
    execution = ExecutionSettings(
        buy_limit_pct=_decimal(str(opts["buy_limit_pct"]), "--buy-limit-pct"),
        stop_pct=_decimal(str(opts["stop_pct"]), "--stop-pct"),
        entry_timeout_candles=int(str(opts["entry_timeout"])),
    )
    settings = BacktestSettings(
        edge=Edge70Config(int(str(opts["long"])), int(str(opts["short"]))),
        sizing=sizing,
        execution=execution,
        fee_rate=fee_rate,
        initial_capital=_decimal(str(opts["initial_capital"]), "--initial-capital"),
        start_ms=start_ms,
        end_ms=end_ms,
    )
    wanted = [s for s in str(opts["symbols"]).split(",") if s.strip()] if opts["symbols"] else None
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=err,
        disable=not opts["progress"],
        transient=True,
    ) as bar:
        task = bar.add_task("loading candles", total=None)
        inputs = load_backtest_inputs(
            Path(str(opts["candles_dir"])),
            wanted,
            opts["interval"] and str(opts["interval"]),
            str(opts["exchange_info"]),
        )
        bar.update(task, description=f"backtesting {len(inputs.series)} markets", total=1, completed=0)

        def report(done: int, total: int) -> None:
            bar.update(task, total=max(total, 1), completed=done)

        result = run_backtest(inputs.series, inputs.filters, inputs.interval, settings, progress=report)
        if result.times.shape[0] == 0:
            raise UsageError("no candles between --from and --to")
        result.warnings.extend(inputs.warnings)
        bar.update(task, description="writing report")
        out = Path(str(opts["out"]))
        report_doc = write_outputs(
            result, out, run_info(result, candles_dir=str(opts["candles_dir"]), exchange_info=inputs.filters_source)
        )
    for w in inputs.warnings[:MAX_WARNINGS]:
        err.print(f"[yellow]warning:[/yellow] {w}")
    if len(inputs.warnings) > MAX_WARNINGS:
        err.print(f"[yellow]warning:[/yellow] … {len(inputs.warnings) - MAX_WARNINGS} more in report.json")
    _summary(report_doc, out, time.perf_counter() - started)


def _summary(report: dict[str, object], out: Path, elapsed: float) -> None:
    total = report["total"]
    run = report["run"]
    assert isinstance(total, dict) and isinstance(run, dict)
    table = Table(
        title=f"edge70 backtest {run['from']} → {run['to']} ({run['interval']}, {len(run['symbols'])} markets)"
    )
    table.add_column("metric")
    table.add_column("value", justify="right")
    rows = [
        ("final value", total["final_value"]),
        ("net profit", total["net_profit"]),
        ("ROI", f"{total['roi_pct']}%"),
        ("CAGR", f"{total['cagr_pct']}%"),
        ("max drawdown", f"{total['max_drawdown_pct']}%"),
        ("trades (closed / open)", f"{total['trades']} / {total['open_trades']}"),
        ("winners", f"{total['winners_pct']}%"),
        ("profit factor", total["profit_factor"]),
        ("Sharpe / Sortino", f"{total['sharpe']} / {total['sortino']}"),
        ("open profit", total["open_profit"]),
    ]
    for name, value in rows:
        table.add_row(name, str(value))
    Console().print(table)
    Console().print(f"wrote {out}/{{trades,signals,equity}}.csv, report.json, report.html in {elapsed:.2f} s")
