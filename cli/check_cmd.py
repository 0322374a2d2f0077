"""`binance-tool check-positions`: one check of the tracked positions (Redis) against the exchange's balances and
open orders, now — the same `check_positions` the position-checker service runs.  Settings from the environment /
`.env` (EXCHANGE, SIMULATOR_URL, BINANCE_API_KEY, REDIS_URL, CHECKER_*); `var/demo/cluster.env` is read when
present.  Exit status: 0 all match, 1 mismatches, 2 bad settings, 3 the inputs could not be read."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from cli.portfolio_cmd import _load_env

if TYPE_CHECKING:
    from services.position_checker.check import CheckResult
    from services.position_checker.settings import CheckerSettings

err = Console(stderr=True)


def _q(d: Decimal) -> str:
    return format(d.normalize(), "f") if d else "0"


async def _check(settings: CheckerSettings, recheck_after_s: float) -> tuple[CheckResult, int]:
    from binance_tool import wiring
    from binance_tool.clock import SystemClock
    from services.position_checker.check import check_positions, confirmed
    from services.position_checker.sources import TrackedPositions
    from services.trackers.store import RedisTrackerStore

    redis = wiring.redis_client(settings)
    exchange = await wiring.spot_exchange(settings)
    try:
        source = TrackedPositions(RedisTrackerStore(redis))
        args = (exchange, exchange, source, settings.checker_account, settings.reconcile_settings(), SystemClock())
        result = await check_positions(*args)
        if not result.mismatches or recheck_after_s <= 0:
            return result, 0
        await asyncio.sleep(recheck_after_s)
        again = await check_positions(*args)
        kept = tuple(confirmed(result, again))
        return replace(again, started_ms=result.started_ms, mismatches=kept), len(result.mismatches) - len(kept)
    finally:
        await exchange.close()
        await redis.aclose()


def check_positions_cmd(
    env_file: Path | None = typer.Option(None, "--env-file", help="settings file (default: var/demo/cluster.env)"),
    account: str | None = typer.Option(None, "--account", help="tracked account (default: CHECKER_ACCOUNT)"),
    recheck_after: float = typer.Option(
        0.0, "--recheck-after", min=0, help="seconds; report only mismatches still there at a re-check"
    ),
) -> None:
    """Compare the tracked positions with the exchange's balances and open stops, now."""
    _load_env(env_file)
    from binance_tool.config import SettingsError, load_settings
    from services.position_checker.settings import CheckerSettings

    try:
        overrides = {"checker_account": account} if account else {}
        settings = load_settings(CheckerSettings, **overrides)
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None
    try:
        result, transient = asyncio.run(_check(settings, recheck_after))
    except Exception as exc:  # exchange or Redis unreachable: no verdict from partial data
        err.print(f"[red]error:[/red] the check could not read its inputs: {exc!r}")
        raise typer.Exit(3) from None
    quote = settings.checker_quote_asset
    summary = (
        f"account {settings.checker_account} on {settings.exchange.value}: {result.open_positions} open positions, "
        f"{result.balances_compared} balances compared"
    )
    if not result.mismatches:
        Console().print(f"[green]all positions match the exchange[/green] — {summary}")
        if transient:
            err.print(f"[yellow]{transient} mismatch(es) gone at the re-check (transient)[/yellow]")
        return
    table = Table(title=f"{len(result.mismatches)} position mismatches — {summary}")
    for col in ("kind", "asset", "edge", "expected", "actual", "difference", f"value ({quote})", "detail"):
        table.add_column(col, justify="right" if col in ("expected", "actual", "difference") else "left",
                         overflow="fold")  # fmt: skip
    for m in result.mismatches:
        value = "—" if m.value_quote is None else f"{m.value_quote.quantize(Decimal('0.01')):,}"
        table.add_row(m.kind.value, m.asset, m.edge or "—", _q(m.expected), _q(m.actual), _q(m.difference),
                      value, m.text)  # fmt: skip
    Console().print(table)
    raise typer.Exit(1)
