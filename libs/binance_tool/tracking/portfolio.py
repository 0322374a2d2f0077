"""Portfolio value in one quote asset from balances and last prices.  Pure (no I/O).

A balance whose asset has no price is listed in `unpriced` (with its quantity), never valued at 0 silently.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from types import MappingProxyType

from binance_tool.exchange.execution import Balance

ZERO = Decimal(0)


@dataclass(frozen=True)
class PortfolioValue:
    quote: str
    total: Decimal  # sum of `values` only
    values: Mapping[str, Decimal]  # asset -> value in `quote`
    unpriced: Mapping[str, Decimal]  # asset -> quantity held, no price known

    @property
    def complete(self) -> bool:
        return not self.unpriced


def price_in(asset: str, quote: str, prices: Mapping[str, Decimal]) -> Decimal | None:
    """Price of one `asset` in `quote` from symbol prices (`AccountData.prices`): 1 for the quote itself, the
    direct pair (`BTCUSDT`), or the inverse of the reverse pair (`USDTBRL` for BRL in USDT)."""
    if asset == quote:
        return Decimal(1)
    direct = prices.get(asset + quote)
    if direct is not None and direct > 0:
        return direct
    inverse = prices.get(quote + asset)
    if inverse is not None and inverse > 0:
        return Decimal(1) / inverse
    return None


def portfolio_value(
    balances: Iterable[Balance] | Mapping[str, Balance], prices: Mapping[str, Decimal], quote: str
) -> PortfolioValue:
    """Value of every non-zero balance (free + locked) in `quote`."""
    items = balances.values() if isinstance(balances, Mapping) else balances
    values: dict[str, Decimal] = {}
    unpriced: dict[str, Decimal] = {}
    for balance in items:
        if not balance.total:
            continue
        price = price_in(balance.asset, quote, prices)
        if price is None:
            unpriced[balance.asset] = unpriced.get(balance.asset, ZERO) + balance.total
        else:
            values[balance.asset] = values.get(balance.asset, ZERO) + balance.total * price
    return PortfolioValue(
        quote=quote,
        total=sum(values.values(), ZERO),
        values=MappingProxyType(dict(sorted(values.items()))),
        unpriced=MappingProxyType(dict(sorted(unpriced.items()))),
    )
