"""Self-contained offline HTML page for a backtest result (report.json + equity curve + trades.csv rows).

Pure: no I/O, standard library only, no scripts, no external resources. All text goes through html.escape.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from html import escape
from typing import Any

from binance_tool.backtest.svg_chart import line_chart_svg

DASH = "—"

# key -> (human label, kind); the order here is the display order, unknown keys follow.
METRICS: dict[str, tuple[str, str]] = {
    "final_value": ("Final value", "money"),
    "net_profit": ("Net profit", "money"),
    "roi_pct": ("ROI", "pct"),
    "cagr_pct": ("CAGR", "pct"),
    "trades": ("Trades", "int"),
    "winners_pct": ("Winners", "pct"),
    "avg_trade_length_days": ("Avg trade length (days)", "days"),
    "max_drawdown_pct": ("Max drawdown", "pct"),
    "max_drawdown_abs": ("Max drawdown (abs)", "money"),
    "max_drawdown_duration_days": ("Max drawdown duration (days)", "days"),
    "max_loss_per_trade": ("Max loss per trade", "money"),
    "max_consecutive_losses": ("Max consecutive losses", "int"),
    "max_consecutive_wins": ("Max consecutive wins", "int"),
    "profit_to_max_drawdown": ("Profit / max drawdown", "ratio"),
    "avg_win": ("Avg win", "money"),
    "avg_loss": ("Avg loss", "money"),
    "avg_win_to_avg_loss": ("Avg win / avg loss", "ratio"),
    "profit_factor": ("Profit factor", "ratio"),
    "expectancy": ("Expectancy", "money"),
    "sharpe": ("Sharpe", "ratio"),
    "sortino": ("Sortino", "ratio"),
    "calmar": ("Calmar", "ratio"),
    "exposure_time_pct": ("Exposure time", "pct"),
    "open_profit": ("Open profit", "money"),
    "fees_paid": ("Fees paid", "money"),
}
SIGNED = {"net_profit", "roi_pct", "cagr_pct", "expectancy", "open_profit", "max_loss_per_trade"}

TRADE_COLUMNS: list[tuple[str, str, str]] = [  # key, header, kind
    ("symbol", "Symbol", "text"),
    ("entry_time", "Entry time", "time"),
    ("entry_price", "Entry price", "decimal"),
    ("exit_time", "Exit time", "time"),
    ("exit_price", "Exit price", "decimal"),
    ("quantity", "Quantity", "decimal"),
    ("fees", "Fees", "money"),
    ("pnl", "PnL", "money"),
    ("return_pct", "Return", "pct"),
    ("exit_reason", "Exit", "text"),
]

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2328;margin:0;background:#f6f8fa}
main{max-width:1240px;margin:0 auto;padding:16px 24px 48px;background:#fff}
h1{font-size:22px;margin:8px 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de}
table{border-collapse:collapse;font-size:13px}th,td{padding:3px 8px;border-bottom:1px solid #eaeef2;white-space:nowrap}
th{background:#f6f8fa;text-align:left;position:sticky;top:0}td.num,th.num{text-align:right;font-variant-numeric:tabular-nums}
.summary td.label{color:#57606a}.summary td.num{padding-right:24px;font-weight:600}
.scroll{overflow-x:auto;max-width:100%}.tall{max-height:720px;overflow-y:auto}
tr.win td{background:#eef8f0}tr.loss td{background:#fdf0ef}.pos{color:#1a7f37}.neg{color:#cf222e}
.muted{color:#57606a;fill:#57606a}.params td{white-space:normal;vertical-align:top}
.warnings li{color:#9a6700}svg.chart{display:block;max-width:100%;height:auto;font-size:12px;fill:#57606a}
.symbols td:first-child{position:sticky;left:0;background:#fff}.symbols th:first-child{left:0;z-index:2}
svg .grid{stroke:#eaeef2}svg .frame{fill:none;stroke:#d0d7de}svg .ref{stroke:#8c959f;stroke-dasharray:4 4}
"""


def _mapping(v: object) -> Mapping[str, Any]:
    return v if isinstance(v, Mapping) else {}


def _list(v: object) -> list[Any]:
    return list(v) if isinstance(v, list | tuple) else []


def _decimal(v: object) -> Decimal | None:
    if v is None or isinstance(v, bool) or (isinstance(v, str) and not v.strip()):
        return None
    try:
        d = Decimal(str(v).strip())
    except (InvalidOperation, ValueError):
        return None
    return d if d.is_finite() else None


def _float(v: object) -> float | None:
    if v is None or isinstance(v, bool):
        return None
    try:
        return float(v) if isinstance(v, int | float | str | Decimal) else None
    except (ValueError, OverflowError):
        return None


def fmt_value(v: object, kind: str) -> str:
    """Readable text (not yet escaped) for a value of a given kind; None, blank or NaN -> "—"."""
    if v is None or (isinstance(v, str) and not v.strip()):
        return DASH
    if isinstance(v, bool):
        return "yes" if v else "no"
    if kind in ("money", "decimal"):
        d = _decimal(v)
        if d is None:
            return str(v)
        return f"{d:,.2f}" if kind == "money" else f"{d:,f}"
    if kind in ("pct", "ratio", "days", "int"):
        f = _float(v)
        if f is None:
            return str(v)
        if math.isnan(f):
            return DASH
        if math.isinf(f):
            return "∞" if f > 0 else "-∞"
        if kind == "int":
            return f"{round(f):,}"
        return f"{f:,.2f}%" if kind == "pct" else f"{f:,.2f}" if kind == "ratio" else f"{f:,.1f}"
    if isinstance(v, Mapping):
        return ", ".join(f"{k}={fmt_value(x, 'text')}" for k, x in v.items())
    if isinstance(v, list | tuple):
        return ", ".join(fmt_value(x, "text") for x in v)
    return str(v)


def _kind_of(key: str, v: object) -> str:
    if key in METRICS:
        return METRICS[key][1]
    if isinstance(v, bool) or v is None:
        return "text"
    if isinstance(v, int):
        return "int"
    if isinstance(v, float):
        return "pct" if key.endswith("_pct") else "days" if key.endswith("_days") else "ratio"
    if isinstance(v, str) and _decimal(v) is not None:
        return "pct" if key.endswith("_pct") else "money"
    return "text"


def _label(key: str) -> str:
    return METRICS[key][0] if key in METRICS else key.replace("_", " ").strip().capitalize()


def _sign_class(v: object) -> str:
    d = _decimal(v)
    return "" if d is None or d == 0 else " pos" if d > 0 else " neg"


def _metric_cell(key: str, v: object) -> str:
    kind = _kind_of(key, v)
    cls = "num" if kind != "text" else ""
    if key in SIGNED:
        cls += _sign_class(v)
    return f'<td class="{cls.strip()}">{escape(fmt_value(v, kind))}</td>'


def _metric_keys(dicts: Sequence[Mapping[str, Any]]) -> list[str]:
    extra: list[str] = []
    for m in dicts:
        extra += [k for k in m if k not in METRICS and k not in extra]
    present = {k for m in dicts for k in m}
    return [k for k in METRICS if k in present] + extra


def _summary_table(total: Mapping[str, Any], per_row: int = 3) -> str:
    keys = _metric_keys([total])
    if not keys:
        return f'<p class="muted">{DASH}</p>'
    rows = []
    for i in range(0, len(keys), per_row):
        cells = "".join(
            f'<td class="label">{escape(_label(k))}</td>{_metric_cell(k, total[k])}' for k in keys[i : i + per_row]
        )
        rows.append(f"<tr>{cells}</tr>")
    return f'<table class="summary"><tbody>{"".join(rows)}</tbody></table>'


def _per_symbol_table(per_symbol: Mapping[str, Any], symbols: Sequence[str]) -> str:
    names = list(per_symbol) + [s for s in symbols if s not in per_symbol]
    if not names:
        return f'<p class="muted">{DASH}</p>'
    rows_m: list[Mapping[str, Any]] = [m if isinstance(m := per_symbol.get(s), Mapping) else {} for s in names]
    keys = _metric_keys(rows_m) or list(METRICS)
    head = "<th>Symbol</th>" + "".join(f'<th class="num">{escape(_label(k))}</th>' for k in keys)
    body = "".join(
        f"<tr><td>{escape(str(s))}</td>{''.join(_metric_cell(k, m.get(k)) for k in keys)}</tr>"
        for s, m in zip(names, rows_m, strict=True)
    )
    return (
        f'<div class="scroll"><table class="symbols"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>'
    )


def _trade_time(row: Mapping[str, str], key: str) -> str:
    ms = _float(row.get(f"{key}_ms"))
    if ms is not None and math.isfinite(ms):
        with contextlib.suppress(ValueError, OverflowError, OSError):
            return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
    return (row.get(key) or "").strip() or DASH


def _trades_table(trades: Sequence[Mapping[str, str]], max_rows: int | None = None) -> tuple[str, str]:
    """(heading suffix, table html); only the first `max_rows` trades get a row."""
    if not trades:
        return " (none)", '<p class="muted">No trades.</p>'
    head = "".join(f'<th class="{"" if k == "text" else "num"}">{escape(h)}</th>' for _, h, k in TRADE_COLUMNS)
    rows, wins, losses = [], 0, 0
    for n, row in enumerate(trades, 1):
        pnl = _decimal(row.get("pnl"))
        cls = "" if pnl is None or pnl == 0 else "win" if pnl > 0 else "loss"
        wins, losses = wins + (cls == "win"), losses + (cls == "loss")
        if max_rows is not None and n > max_rows:
            continue
        cells = [f'<td class="num muted">{n}</td>']
        for key, _, kind in TRADE_COLUMNS:
            if kind == "time":
                cells.append(f"<td>{escape(_trade_time(row, key))}</td>")
                continue
            text = fmt_value(row.get(key), kind)
            if key == "exit_reason" and row.get(key) == "end":
                text = "end (marked at last close)"
            sign = _sign_class(row.get(key)) if key in ("pnl", "return_pct") else ""
            cells.append(f'<td class="{("" if kind == "text" else "num") + sign}">{escape(text)}</td>')
        rows.append(f'<tr class="{cls}">{"".join(cells)}</tr>')
    table = (
        f'<div class="scroll tall"><table class="trades"><thead><tr><th class="num">#</th>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )
    if max_rows is not None and len(trades) > max_rows:
        more = len(trades) - max_rows
        table += f'<p class="muted">The first {max_rows:,} trades are listed; {more:,} more are in trades.csv.</p>'

    return f" ({len(trades):,}: {wins:,} winners, {losses:,} losers)", table


def _title(run: Mapping[str, Any]) -> str:
    edge = run.get("edge")
    edge_name = edge.get("name") if isinstance(edge, Mapping) else edge
    bits = [str(x) for x in (edge_name, run.get("interval")) if x]
    span = f"{run.get('from') or '…'} → {run.get('to') or '…'}"
    return "Backtest " + " · ".join([*bits, span])


def _subtitle(run: Mapping[str, Any], n_symbols: int) -> str:
    capital = fmt_value(run.get("initial_capital"), "money")
    fee, generated = (fmt_value(run.get(k), "text") for k in ("fee_rate", "generated_at"))
    return f"{n_symbols} symbol(s), initial capital {capital}, fee rate {fee}, generated {generated}"


def _params_table(run: Mapping[str, Any]) -> str:
    rows = "".join(
        f'<tr><td class="label muted">{escape(_label(str(k)))}</td><td>{escape(fmt_value(v, "text"))}</td></tr>'
        for k, v in run.items()
    )
    return f'<table class="params"><tbody>{rows}</tbody></table>' if rows else ""


def _axis_money(v: float) -> str:
    return f"{v:,.0f}" if abs(v) >= 100 or v == int(v) else f"{v:,.2f}"


def _axis_pct(v: float) -> str:
    return f"{v:,.0f}%" if abs(v) >= 10 or v == int(v) else f"{v:,.1f}%"


def render_report_html(
    report: Mapping[str, Any],
    *,
    time_ms: Sequence[int],
    value: Sequence[float],
    drawdown_pct: Sequence[float],
    trades: Sequence[Mapping[str, str]],
    max_trade_rows: int | None = None,
) -> str:
    """The whole report as one offline HTML document (inline CSS and SVG; no scripts, fonts or URLs)."""
    run, total, per_symbol = (_mapping(report.get(k)) for k in ("run", "total", "per_symbol"))
    symbols = _list(run.get("symbols"))
    warnings = _list(report.get("warnings"))
    title = _title(run)
    initial = _float(run.get("initial_capital"))
    trades_suffix, trades_html = _trades_table(trades, max_trade_rows)
    equity_svg = line_chart_svg(
        time_ms, value, title="Equity curve", y_format=_axis_money, color="#1f6feb", ref_value=initial
    )
    dd_svg = line_chart_svg(
        time_ms,
        drawdown_pct,
        title="Drawdown",
        y_format=_axis_pct,
        color="#cf222e",
        fill_to_top=True,
        include_zero_top=True,
    )
    parts = [
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(title)}</title><style>{STYLE}</style></head><body><main>",
        f"<h1>{escape(title)}</h1>",
        f'<p class="muted">{escape(_subtitle(run, len(symbols)))}</p>',
        f"<details open><summary>Run parameters</summary>{_params_table(run)}</details>",
    ]
    if warnings:
        items = "".join(f"<li>{escape(str(w))}</li>" for w in warnings)
        parts.append(f'<h2 id="warnings">Warnings ({len(warnings)})</h2><ul class="warnings">{items}</ul>')
    parts += [
        f'<h2 id="summary">Summary</h2>{_summary_table(total)}',
        f'<h2 id="equity">Equity curve</h2>{equity_svg}',
        f'<h2 id="drawdown">Drawdown</h2>{dd_svg}',
        f'<h2 id="per-symbol">Per symbol</h2>{_per_symbol_table(per_symbol, [str(s) for s in symbols])}',
        f'<h2 id="trades">Trades{escape(trades_suffix)}</h2>{trades_html}',
        "</main></body></html>",
    ]
    return "\n".join(parts)
