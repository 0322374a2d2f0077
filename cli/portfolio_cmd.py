"""`binance-tool portfolio` and `binance-tool positions` as rich tables.

By default both read what the trackers hold in Redis (REDIS_URL): the portfolio-tracker's last valuation and the
position-tracker's open positions (valued at the portfolio-tracker's last prices).  `--source exchange` shows the
balances as the exchange reports them now (EXCHANGE, SIMULATOR_URL, BINANCE_API_KEY, ...); `positions --source tas`
shows the Trade Abstraction Service's active trades with their stops (TAS_URL, TAS_TOKEN).  `make demo` writes the
settings of its cluster to `var/demo/cluster.env`, which is read when present."""

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


def _redis_url() -> str:
    from binance_tool.config import SettingsError, load_settings
    from binance_tool.config.settings import RedisSettings

    try:
        return load_settings(RedisSettings).redis_url.get_secret_value()
    except SettingsError as exc:
        err.print(f"[red]error:[/red] {exc.message}")
        raise typer.Exit(2) from None


def _when(ms: int) -> str:
    from datetime import UTC, datetime

    return "—" if not ms else datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _read_redis(read, url: str | None = None):  # type: ignore[no-untyped-def]
    """Run `read(redis)` against `url` (default REDIS_URL); an unreachable Redis is a clear error (exit 1)."""
    from redis.asyncio import Redis
    from redis.exceptions import RedisError

    url = url or _redis_url()

    async def run():  # type: ignore[no-untyped-def]
        redis = Redis.from_url(url)
        try:
            return await read(redis)
        finally:
            await redis.aclose()

    try:
        return asyncio.run(run())
    except (RedisError, OSError) as exc:
        err.print(f"[red]error:[/red] Redis at {url.rsplit('@', 1)[-1]} did not answer: {exc!r}")
        raise typer.Exit(1) from None


def portfolio(
    env_file: Path | None = typer.Option(None, "--env-file", help="settings file (default: var/demo/cluster.env)"),
    quote: str = typer.Option("USDT", "--quote", help="with --source exchange: value everything in this asset"),
    source: str = typer.Option("trackers", "--source", help="trackers (Redis, default) or exchange (ask it now)"),
    account: str = typer.Option("default", "--account", help="the account (trackers)"),
) -> None:
    """The account's balances valued in the quote asset (and in USD) at current prices."""
    _load_env(env_file)
    if source == "trackers":
        _portfolio_from_trackers(account)
        return
    if source != "exchange":
        err.print(f"[red]error:[/red] --source must be trackers or exchange, not {source!r}")
        raise typer.Exit(2)
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


def _portfolio_from_trackers(account: str) -> None:
    from services.trackers.portfolio_store import RedisPortfolioStore

    latest = _read_redis(lambda redis: RedisPortfolioStore(redis).latest(account))
    if latest is None:
        err.print(f"[red]error:[/red] no portfolio of account {account!r} in Redis yet: is bt-trackers running?")
        raise typer.Exit(1)
    q = latest.quote_asset
    usd = "" if latest.total_usd is None else f" ≈ {_money(latest.total_usd)} USD ({latest.usd_rate_source})"
    table = Table(title=f"portfolio of {account} — {_money(latest.total_quote)} {q}{usd}")
    for col in ("asset", "free", "locked", f"price ({q})", f"value ({q})", "share"):
        table.add_column(col, justify="left" if col == "asset" else "right")
    for h in latest.holdings:
        share = f"{h.value / latest.total_quote * 100:.1f} %" if h.value is not None and latest.total_quote else "—"
        table.add_row(h.asset, f"{h.free.normalize():f}", f"{h.locked.normalize():f}", _price(h.price),
                      _money(h.value), share)  # fmt: skip
    Console().print(table)
    Console().print(
        f"balances as of {_when(latest.balances_time_ms)} · prices as of {_when(latest.prices_time_ms)} (exchange time)"
    )
    if latest.unpriced:
        err.print(f"[yellow]not valued (no {q} price):[/yellow] {', '.join(latest.unpriced)}")


def positions(
    env_file: Path | None = typer.Option(None, "--env-file", help="settings file (default: var/demo/cluster.env)"),
    source: str = typer.Option("trackers", "--source", help="trackers (Redis, default) or tas (the TAS's trades)"),
    account: str = typer.Option("default", "--account", help="the account (trackers)"),
    show_all: bool = typer.Option(False, "--all", help="also closed positions (trackers)"),
) -> None:
    """Open positions with average entry, unrealised and realised P&L (trackers), or the TAS's active trades."""
    _load_env(env_file)
    if source == "trackers":
        _positions_from_trackers(account, show_all)
        return
    if source != "tas":
        err.print(f"[red]error:[/red] --source must be trackers or tas, not {source!r}")
        raise typer.Exit(2)
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


def _positions_from_trackers(account: str, show_all: bool) -> None:
    from binance_tool.tracking import unrealised_pnl
    from services.trackers.portfolio_store import RedisPortfolioStore
    from services.trackers.queries import all_positions

    async def read(redis):  # type: ignore[no-untyped-def]
        return await all_positions(redis, account), await RedisPortfolioStore(redis).prices(account)

    found, (prices, prices_ms) = _read_redis(read)
    shown = [p for p in found if show_all or not p.closed]
    table = Table(title=f"positions of {account} ({len(shown)}{'' if show_all else ' open'}) — prices as of "
                        f"{_when(prices_ms)}")  # fmt: skip
    cols = ("symbol", "edge", "held", "avg entry", "last", "value", "unrealised P&L", "realised P&L", "opened")
    for col in (*cols, *(("closed",) if show_all else ())):
        table.add_column(col, justify="left" if col in ("symbol", "edge") else "right")
    total_unrealised = total_realised = Decimal(0)
    for p in shown:
        last = prices.get(p.symbol)
        entry = p.average_entry_price
        pnl = unrealised_pnl(p, last) if last is not None and not p.closed else None
        total_unrealised += pnl or 0
        total_realised += p.realised_pnl
        colour = "green" if pnl is not None and pnl > 0 else "red" if pnl is not None and pnl < 0 else "white"
        pct = f" ({(last / entry - 1) * 100:+.1f} %)" if last is not None and entry and not p.closed else ""
        row = [p.symbol, p.edge or "manual", f"{p.quantity.normalize():f}", _price(entry), _price(last),
               _money(p.quantity * last if last is not None else None), f"[{colour}]{_money(pnl)}{pct}[/{colour}]",
               _money(p.realised_pnl), _when(p.opened_ms or 0)]  # fmt: skip
        table.add_row(*row, *((_when(p.closed_ms or 0),) if show_all else ()))
    Console().print(table)
    Console().print(
        f"unrealised P&L {_money(total_unrealised)} · realised P&L {_money(total_realised)} (net of fees, quote asset)"
    )
