"""`binance-tool trading ...`: the operator's kill switch."""

from __future__ import annotations

import asyncio

import typer
from rich.console import Console

app = typer.Typer(help="trading controls (kill switch)", no_args_is_help=True)


@app.command("mode")
def mode(
    new_mode: str | None = typer.Argument(None, help="active | reduce-only | halted (omit to show the current mode)"),
    redis_url: str = typer.Option(
        "redis://127.0.0.1:6379/0", "--redis-url", envvar="REDIS_URL", help="the cluster's Redis"
    ),
) -> None:
    """Show or set the trading mode the position sizer honours: `reduce-only` and `halted` stop new entries."""
    from redis.asyncio import Redis

    from binance_tool.trading import TradingMode
    from services.position_sizer.kill_switch import RedisModeStore

    target: TradingMode | None = None
    if new_mode is not None:
        try:
            target = TradingMode(new_mode)
        except ValueError:
            Console(stderr=True).print(
                f"[red]error:[/red] mode must be one of {', '.join(m.value for m in TradingMode)}"
            )
            raise typer.Exit(2) from None

    async def go() -> TradingMode:
        redis = Redis.from_url(redis_url)
        try:
            store = RedisModeStore(redis)
            if target is not None:
                await store.set(target)
            return await store.get()
        finally:
            await redis.aclose()

    current = asyncio.run(go())
    colour = {"active": "green", "reduce-only": "yellow", "halted": "red"}[current.value]
    Console().print(f"trading mode: [{colour}]{current.value}[/{colour}]")
