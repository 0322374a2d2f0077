"""The portfolio as the sizer sees it: the exchange's balances and prices (the source of truth) plus the TAS's
active trades (entry price, stop, working entry orders).

- free / reserved quote = the quote asset's free / locked balance (locked = working buy orders);
- each active trade's filled part is a position marked at the last price, with its stop;
- each working entry's unfilled part is a pending exposure at its limit, with the planned stop;
- any other holding worth at least `min_value` (manual, or left over) is a position without a stop (its whole
  value counts as risk): nothing is invisible to the caps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

from binance_tool.exchange.execution import Balance
from binance_tool.trading import EXECUTION_SETTINGS, Exposure, PortfolioState

ZERO = Decimal(0)


class AccountView(Protocol):
    async def balances(self) -> dict[str, Balance]: ...

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]: ...


class PositionsView(Protocol):
    async def positions(self) -> list[dict[str, Any]]: ...


async def read_portfolio(
    account: AccountView, tas: PositionsView, quote: str, min_value: Decimal = Decimal(10)
) -> PortfolioState:
    balances, trades = await asyncio.gather(account.balances(), tas.positions())
    symbols = {str(t["symbol"]) for t in trades}
    held_assets = {a for a, b in balances.items() if a != quote and b.total > 0}
    symbols |= {f"{a}{quote}" for a in held_assets}
    prices = await account.prices(sorted(symbols)) if symbols else {}
    exposures: list[Exposure] = []
    traded: set[str] = set()
    for t in trades:
        exposures += _trade_exposures(t, prices)
        traded.add(str(t["symbol"]))
    for asset in sorted(held_assets):
        symbol = f"{asset}{quote}"
        price = prices.get(symbol)
        if symbol in traded or price is None:
            continue
        total = balances[asset].total
        if total * price >= min_value:
            exposures.append(Exposure(symbol, total, price, None, price))
    cash = balances.get(quote)
    return PortfolioState(
        free_quote=cash.free if cash else ZERO,
        reserved_quote=cash.locked if cash else ZERO,
        exposures=tuple(exposures),
    )


def _trade_exposures(t: dict[str, Any], prices: dict[str, Decimal]) -> list[Exposure]:
    symbol = str(t["symbol"])
    out: list[Exposure] = []
    held = Decimal(str(t["quantity"]))
    mark = prices.get(symbol)
    stop = Decimal(str(t["stop_price"])) if t.get("stop_price") is not None else None
    if held > 0:
        entry = Decimal(str(t["average_entry_price"])) if t.get("average_entry_price") is not None else mark or ZERO
        out.append(Exposure(symbol, held, entry, stop, mark if mark is not None else entry))
    pending = Decimal(str(t.get("entry_pending_qty", "0")))
    if pending > 0 and t.get("entry_limit") is not None:
        limit = Decimal(str(t["entry_limit"]))
        settings = EXECUTION_SETTINGS.get(str(t["edge"]))
        planned = limit * (1 - settings.stop_pct) if settings else None
        out.append(Exposure(symbol, pending, limit, planned, limit, pending=True))
    return out
