"""`binance-tool performance`: per-edge results (real closed positions and signal trades) as the performance
service keeps them in Redis.  Settings from the environment / `.env` (REDIS_URL, PERFORMANCE_KEY_PREFIX);
`var/demo/cluster.env` is read when present (see `cli/portfolio_cmd.py`)."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from cli.portfolio_cmd import _load_env, _read_redis
from cli.portfolio_cmd import _price as _num

if TYPE_CHECKING:
    from binance_tool.events.performance import EdgeTotals, ResultTotals
    from services.performance.queries import EdgeView

err = Console(stderr=True)


def _pct(d: Decimal | None) -> str:
    if d is None:
        return "—"
    colour = "green" if d > 0 else "red" if d < 0 else "white"
    return f"[{colour}]{d.quantize(Decimal('0.01')):+} %[/{colour}]"


def _avg(r: ResultTotals) -> str:
    return _pct(r.average_return_pct)


def _day(ms: int | None) -> str:
    return "—" if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


def _totals_row(period: str, t: EdgeTotals) -> list[str]:
    return [
        period,
        str(t.real.closed),
        f"{t.real.wins} / {t.real.losses}",
        f"{t.real.pnl_sum.quantize(Decimal('0.01')):+,}",
        _avg(t.real),
        str(t.signals.closed),
        f"{t.signals.wins}",
        _avg(t.signals),
        f"{t.entered.closed} ({_avg(t.entered)})",
        f"{t.not_entered.closed} ({_avg(t.not_entered)})",
    ]


def render(view: EdgeView, console: Console, last: int) -> None:
    book = view.book
    edge = book.edge
    table = Table(title=f"{edge} — results (real = closed positions; signal = paper trades long → short signal)")
    for col in ("period", "real closed", "won / lost", "real P&L", "real avg", "signal trades", "signal wins",
                "signal avg", "entered (avg)", "not entered (avg)"):  # fmt: skip
        table.add_column(col, justify="left" if col == "period" else "right")
    table.add_row(*_totals_row("all time", book.all_time))
    for month, totals in sorted(book.months.items(), reverse=True):
        table.add_row(*_totals_row(month, totals))
    console.print(table)
    if book.all_time.refusals:
        why = Table(title=f"{edge} — closed signal trades not entered, by reason")
        why.add_column("reason")
        why.add_column("count", justify="right")
        for reason, count in sorted(book.all_time.refusals.items(), key=lambda kv: -kv[1]):
            why.add_row(reason, str(count))
        console.print(why)
    trades = view.signal_trades[-last:] if last > 0 else []  # [-0:] would be everything
    if trades:
        st = Table(title=f"{edge} — last {len(trades)} signal trades")
        for col in ("symbol", "entry day", "entry", "exit day", "exit", "return", "entered"):
            st.add_column(col, justify="left" if col in ("symbol", "entered") else "right")
        for t in trades:
            entered = "yes" if t.entered else f"no: {t.not_entered_reason}"
            st.add_row(t.symbol, _day(t.entry_ms), _num(t.entry_price), _day(t.exit_ms), _num(t.exit_price),
                       _pct(t.return_pct) if t.exit_ms is not None else "open", entered)  # fmt: skip
        console.print(st)
    closed = view.closed_positions[-last:] if last > 0 else []
    if closed:
        pt = Table(title=f"{edge} — last {len(closed)} closed positions")
        for col in ("symbol", "opened", "closed", "days", "cost", "P&L", "return"):
            pt.add_column(col, justify="left" if col == "symbol" else "right")
        for c in closed:
            pt.add_row(c.symbol, _day(c.opened_at_ms), _day(c.closed_at_ms), _num(c.days_held),
                       f"{c.cost.quantize(Decimal('0.01')):,}", f"{c.realised_pnl.quantize(Decimal('0.01')):+,}",
                       _pct(c.return_pct))  # fmt: skip
        console.print(pt)


def performance(
    env_file: Path | None = typer.Option(None, "--env-file", help="settings file (default: var/demo/cluster.env)"),
    edge: str | None = typer.Option(None, "--edge", help="only this edge"),
    last: int = typer.Option(
        20, "--last", min=0, help="how many recent signal trades / closed positions to list (0: none, totals only)"
    ),
) -> None:
    """Per-edge realised results: closed positions, and signal trades entered or not (with the reasons)."""
    _load_env(env_file)
    from redis.asyncio import Redis

    from binance_tool.config import SettingsError, load_settings
    from services.performance import queries
    from services.performance.settings import PerformanceSettings

    try:
        settings = load_settings(PerformanceSettings)
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None

    async def read(redis: Redis) -> list[EdgeView]:
        prefix = settings.performance_key_prefix
        names = [edge] if edge else await queries.edges(redis, prefix)
        return [await queries.edge_view(redis, name, prefix) for name in names]

    views = _read_redis(read, settings.redis_url.get_secret_value())
    console = Console()
    if not any(v.book.all_time.signals.closed or v.book.all_time.real.closed or v.signal_trades for v in views):
        console.print("no edge results yet")
        return
    for view in views:
        render(view, console, last)
