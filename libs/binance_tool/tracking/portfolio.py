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


@dataclass(frozen=True)
class HeldBalance:
    """One asset's balance as last reported, with the exchange time of that report."""

    asset: str
    free: Decimal
    locked: Decimal
    time_ms: int

    @property
    def total(self) -> Decimal:
        return self.free + self.locked

    def as_balance(self) -> Balance:
        return Balance(self.asset, self.free, self.locked)


def apply_balances(
    current: Mapping[str, HeldBalance], balances: Iterable[Balance], time_ms: int, *, snapshot: bool
) -> dict[str, HeldBalance]:
    """`current` after a balance report at exchange time `time_ms`.  Each asset only moves forward in time: a report
    older than what is held for an asset changes nothing for it (reports may arrive late or twice).  A `snapshot`
    lists every non-zero balance, so an asset it omits is zero as of `time_ms` (unless a newer report says
    otherwise); a stream update (`outboundAccountPosition`) lists only what changed."""
    out = dict(current)
    listed = set()
    for b in balances:
        listed.add(b.asset)
        known = out.get(b.asset)
        if known is None or time_ms >= known.time_ms:
            out[b.asset] = HeldBalance(b.asset, b.free, b.locked, time_ms)
    if snapshot:
        for asset, known in current.items():
            if asset not in listed and known.time_ms <= time_ms and known.total:
                out[asset] = HeldBalance(asset, ZERO, ZERO, time_ms)
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class UsdRate:
    """USD per one unit of the quote asset, and where it came from: `market:<SYMBOL>` (a USD stablecoin's pair),
    `identity` (the quote is the USD asset), `peg` (no pair: the quote taken as 1 USD, a stablecoin's peg) or
    `none` (no rate: the USD value is unknown)."""

    rate: Decimal | None
    source: str


def usd_rate(quote: str, prices: Mapping[str, Decimal], usd_asset: str, *, peg_fallback: bool) -> UsdRate:
    """USD per `quote`, valued through `usd_asset` (a USD stablecoin taken as 1 USD, e.g. USDC)."""
    if quote == usd_asset:
        return UsdRate(Decimal(1), "identity")
    for symbol, invert in ((quote + usd_asset, False), (usd_asset + quote, True)):
        price = prices.get(symbol)
        if price is not None and price > 0:
            return UsdRate(Decimal(1) / price if invert else price, f"market:{symbol}")
    return UsdRate(Decimal(1), "peg") if peg_fallback else UsdRate(None, "none")
