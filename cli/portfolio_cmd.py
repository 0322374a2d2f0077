"""`binance-tool portfolio` and `binance-tool positions`: the account as the exchange reports it, and the trades
the Trade Abstraction Service holds, as rich tables.  Connection settings come from the environment / `.env`
(EXCHANGE, SIMULATOR_URL, BINANCE_API_KEY, ..., TAS_URL, TAS_TOKEN); `make demo` writes them for its cluster to
`var/demo/cluster.env`, which is read when present."""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

DEMO_ENV = Path("var/demo/cluster.env")
err = Console(stderr=True)


def _load_env(env_file: Path | None) -> None:
    path = env_file or (DEMO_ENV if DEMO_ENV.is_file() else None)
    if path is None:
        return
    if not path.is_file():
        err.print(f"[red]error:[/red] {path} not found")
        raise typer.Exit(2)
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and name.strip() and not name.startswith("#"):
            os.environ.setdefault(name.strip(), value.strip())


def _money(d: Decimal | None, places: str = "0.01") -> str:
    return "—" if d is None else f"{d.quantize(Decimal(places)):,}"


def _price(d: Decimal | None) -> str:
    return "—" if d is None else format(d.normalize(), ",f")


def portfolio(
    env_file: Path | None = typer.Option(None, "--env-file", help="settings file (default: var/demo/cluster.env)"),
    quote: str = typer.Option("USDT", "--quote", help="value everything in this asset"),
) -> None:
    """Balances of the account valued in the quote asset at the exchange's last prices."""
    _load_env(env_file)
    from binance_tool.config import SettingsError, load_settings
    from binance_tool.config.settings import ExchangeSettings
    from binance_tool.exchange.binance_execution import BinanceSpot
    from binance_tool.exchange.execution import ExchangeUnavailable
    from binance_tool.tracking.portfolio import portfolio_value

    try:
        settings = load_settings(ExchangeSettings)
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None

    async def read() -> tuple[dict, dict]:
        async with BinanceSpot(settings) as exchange:
            balances = await exchange.balances()
            symbols = [f"{a}{quote}" for a in balances if a != quote]
            return balances, (await exchange.prices(symbols) if symbols else {})

    try:
        balances, prices = asyncio.run(read())
    except ExchangeUnavailable as exc:
        err.print(f"[red]error:[/red] the exchange did not answer: {exc}")
        raise typer.Exit(1) from None
    value = portfolio_value(balances, prices, quote)
    table = Table(title=f"portfolio on {settings.exchange.value} — {_money(value.total)} {quote}")
    for col in ("asset", "free", "locked", f"price ({quote})", f"value ({quote})", "share"):
        table.add_column(col, justify="left" if col == "asset" else "right")
    for asset, b in sorted(balances.items(), key=lambda kv: -(value.values.get(kv[0]) or Decimal(0))):
        v = value.values.get(asset)
        price = Decimal(1) if asset == quote else prices.get(f"{asset}{quote}")
        share = f"{v / value.total * 100:.1f} %" if v is not None and value.total else "—"
        table.add_row(asset, f"{b.free.normalize():f}", f"{b.locked.normalize():f}", _price(price),
                      _money(v), share)  # fmt: skip
    Console().print(table)
    if value.unpriced:
        err.print(f"[yellow]not valued (no {quote} price):[/yellow] {', '.join(sorted(value.unpriced))}")


def positions(
    env_file: Path | None = typer.Option(None, "--env-file", help="settings file (default: var/demo/cluster.env)"),
) -> None:
    """The Trade Abstraction Service's active trades with their stop and unrealised P&L at the last price."""
    _load_env(env_file)
    import httpx

    url, token = os.environ.get("TAS_URL", "http://127.0.0.1:9500"), os.environ.get("TAS_TOKEN", "")
    if not token:
        err.print(
            "[red]error:[/red] TAS_TOKEN is not set (a TAS token; `make demo` writes one to var/demo/cluster.env)"
        )
        raise typer.Exit(2)
    try:
        response = httpx.get(f"{url}/spot/positions", headers={"Authorization": f"Bearer {token}"}, timeout=10)
    except httpx.HTTPError as exc:
        err.print(f"[red]error:[/red] the TAS at {url} did not answer: {exc!r}")
        raise typer.Exit(1) from None
    if response.status_code != 200:
        err.print(f"[red]error:[/red] the TAS answered {response.status_code}: {response.text[:200]}")
        raise typer.Exit(1)
    trades = response.json()
    prices = _prices([t["symbol"] for t in trades])
    table = Table(title=f"active trades ({len(trades)})")
    for col in ("symbol", "edge", "state", "held", "avg entry", "last", "unrealised P&L", "stop", "stop qty"):
        table.add_column(col, justify="left" if col in ("symbol", "edge", "state") else "right")
    for t in trades:
        held = Decimal(str(t["quantity"]))
        entry = Decimal(str(t["average_entry_price"])) if t.get("average_entry_price") is not None else None
        last = prices.get(t["symbol"])
        pnl = (last - entry) * held if last is not None and entry is not None else None
        colour = "green" if pnl is not None and pnl > 0 else "red" if pnl is not None and pnl < 0 else "white"
        pct = f" ({(last / entry - 1) * 100:+.1f} %)" if last is not None and entry else ""
        table.add_row(t["symbol"], t["edge"], t["state"], f"{held.normalize():f}", _price(entry),
                      _price(last), f"[{colour}]{_money(pnl)}{pct}[/{colour}]",
                      _price(Decimal(str(t["stop_price"])) if t.get("stop_price") else None),
                      f"{Decimal(str(t['stop_quantity'])).normalize():f}")  # fmt: skip
    Console().print(table)


def _prices(symbols: list[str]) -> dict[str, Decimal]:
    if not symbols:
        return {}
    from binance_tool.config import load_settings
    from binance_tool.config.settings import ExchangeSettings
    from binance_tool.exchange.binance_execution import BinanceSpot

    async def read() -> dict[str, Decimal]:
        async with BinanceSpot(load_settings(ExchangeSettings)) as exchange:
            return await exchange.prices(symbols)

    try:
        return asyncio.run(read())
    except Exception as exc:  # prices are a convenience here: show the trades without them
        err.print(f"[yellow]warning:[/yellow] no prices: {exc!r}")
        return {}
