"""Backtest output files: trades.csv, signals.csv, equity.csv, report.json and report.html."""

from __future__ import annotations

import csv
import json
import time
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np

from binance_tool.backtest.html_report import render_report_html
from binance_tool.backtest.metrics import report_metrics
from binance_tool.backtest.model import BacktestResult, SignalRecord, Trade

TRADE_COLUMNS = [
    "symbol", "entry_time", "entry_time_ms", "entry_price", "exit_time", "exit_time_ms", "exit_price", "quantity",
    "fees", "pnl", "return_pct", "exit_reason", "signal_time_ms", "stop_price", "filled_at_open", "bars_held",
]  # fmt: skip
SIGNAL_COLUMNS = [
    "symbol", "candle_open_time", "candle_open_time_ms", "signal_time_ms", "direction", "previous_direction",
    "signal_price", "action", "limit_price", "planned_stop", "quantity", "binding_constraint", "refusal", "reason",
    "portfolio_value",
]  # fmt: skip
MAX_HTML_TRADES = 2000  # the page stays light; trades.csv has them all
EQUITY_COLUMNS = ["date", "time_ms", "value", "cash", "holdings", "exposure_pct", "drawdown_pct", "open_positions"]


_ISO: dict[int, str] = {}


def iso(ms: int) -> str:
    text = _ISO.get(ms)
    if text is None:
        text = _ISO[ms] = datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return text


def prime_iso(times: np.ndarray) -> None:
    """Format many UTC ms times at once (vectorised) for `iso`."""
    texts = np.datetime_as_string(times.astype("datetime64[ms]"), unit="s")
    _ISO.update(zip(times.tolist(), (t + "Z" for t in texts.tolist()), strict=True))


def _prime(result: BacktestResult) -> None:
    times = [t.entry_time_ms for t in result.trades] + [t.exit_time_ms for t in result.trades]
    times += [r.candle_open_time_ms for r in result.signals]
    prime_iso(np.unique(np.array(times + result.times.tolist(), dtype=np.int64)))


def _s(d: Decimal | None) -> str:
    return "" if d is None else format(d.normalize(), "f")


def trade_row(t: Trade) -> dict[str, str]:
    return {
        "symbol": t.symbol,
        "entry_time": iso(t.entry_time_ms),
        "entry_time_ms": str(t.entry_time_ms),
        "entry_price": _s(t.entry_price),
        "exit_time": iso(t.exit_time_ms),
        "exit_time_ms": str(t.exit_time_ms),
        "exit_price": _s(t.exit_price),
        "quantity": _s(t.quantity),
        "fees": _s(t.fees),
        "pnl": _s(t.pnl.quantize(Decimal("0.00000001"))),
        "return_pct": _s(t.return_pct.quantize(Decimal("0.0001"))),
        "exit_reason": t.exit_reason.value,
        "signal_time_ms": str(t.signal_time_ms),
        "stop_price": _s(t.stop_price),
        "filled_at_open": str(t.filled_at_open).lower(),
        "bars_held": str(t.bars_held),
    }


def signal_row(r: SignalRecord) -> dict[str, str]:
    d = r.decision
    return {
        "symbol": r.symbol,
        "candle_open_time": iso(r.candle_open_time_ms),
        "candle_open_time_ms": str(r.candle_open_time_ms),
        "signal_time_ms": str(r.signal_time_ms),
        "direction": r.direction,
        "previous_direction": r.previous_direction,
        "signal_price": _s(r.signal_price),
        "action": r.action.value,
        "limit_price": _s(r.limit_price),
        "planned_stop": _s(r.planned_stop),
        "quantity": _s(d.quantity) if d else "",
        "binding_constraint": d.binding.value if d else "",
        "refusal": d.refusal.value if d and d.refusal else "",
        "reason": d.reason if d else "",
        "portfolio_value": _s(d.portfolio_value.quantize(Decimal("0.01"))) if d else "",
    }


def equity_columns(result: BacktestResult) -> dict[str, np.ndarray]:
    """Daily samples (the last close of each UTC day) of the portfolio curve."""
    value = result.value
    peak = np.maximum.accumulate(value) if value.shape[0] else value
    with np.errstate(divide="ignore", invalid="ignore"):
        drawdown = np.where(peak > 0, (value / peak - 1) * 100, 0.0)
        exposure = np.where(value > 0, result.holdings / value * 100, 0.0)
    return {
        "time_ms": result.times,
        "value": value,
        "cash": result.cash,
        "holdings": result.holdings,
        "exposure_pct": exposure,
        "drawdown_pct": drawdown,
        "open_positions": result.open_positions,
    }


def build_report(result: BacktestResult, run: dict[str, Any]) -> dict[str, Any]:
    total, per_symbol = report_metrics(result)
    return {"run": run, "total": total, "per_symbol": per_symbol, "warnings": result.warnings}


def run_info(result: BacktestResult, **extra: Any) -> dict[str, Any]:
    s = result.settings
    times = result.times
    return {
        "interval": result.interval,
        "from": iso(int(times[0]))[:10] if times.shape[0] else None,
        "to": iso(int(times[-1]))[:10] if times.shape[0] else None,
        "symbols": result.symbols,
        "edge": {"name": "edge70", "long_lookback": s.edge.long_lookback, "short_lookback": s.edge.short_lookback},
        "sizing": s.sizing.as_dict(),
        "execution": s.execution.as_dict(),
        "fee_rate": str(s.fee_rate),
        "initial_capital": str(s.initial_capital),
        "candles": result.candles,
        "signals": len(result.signals),
        "generated_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        **extra,
    }


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, str]]) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([row[c] for c in columns] for row in rows)


def write_outputs(result: BacktestResult, out: Path, run: dict[str, Any]) -> dict[str, Any]:
    """Write every output file into `out` (created if needed); returns the report."""
    out.mkdir(parents=True, exist_ok=True)
    _prime(result)
    trades = [trade_row(t) for t in result.trades]
    _write_csv(out / "trades.csv", TRADE_COLUMNS, trades)
    _write_csv(out / "signals.csv", SIGNAL_COLUMNS, [signal_row(r) for r in result.signals])
    eq = equity_columns(result)
    with (out / "equity.csv").open("w", encoding="utf-8") as fh:
        fh.write(",".join(EQUITY_COLUMNS) + "\n")
        for i in range(eq["time_ms"].shape[0]):
            fh.write(
                f"{iso(int(eq['time_ms'][i]))[:10]},{int(eq['time_ms'][i])},{eq['value'][i]:.2f},{eq['cash'][i]:.2f},"
                f"{eq['holdings'][i]:.2f},{eq['exposure_pct'][i]:.2f},{eq['drawdown_pct'][i]:.4f},"
                f"{int(eq['open_positions'][i])}\n"
            )
    report = build_report(result, run)
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    page = render_report_html(
        report,
        time_ms=eq["time_ms"].tolist(),
        value=eq["value"].tolist(),
        drawdown_pct=eq["drawdown_pct"].tolist(),
        trades=trades,
        max_trade_rows=MAX_HTML_TRADES,
    )
    (out / "report.html").write_text(page, encoding="utf-8")
    return report
