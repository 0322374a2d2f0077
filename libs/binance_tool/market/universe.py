"""The trading universe: spot markets of a quote asset that are TRADING, minus stable coins and leveraged
tokens, optionally narrowed to an explicit list.  Pure: takes an exchangeInfo document."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from binance_tool.events.common import Market

STABLE_AND_FIAT = frozenset(
    {
        "USDT",
        "USDC",
        "BUSD",
        "TUSD",
        "USDP",
        "PAX",
        "DAI",
        "UST",
        "USTC",
        "FDUSD",
        "PYUSD",
        "USDD",
        "USDN",
        "FEI",
        "FRAX",
        "LUSD",
        "HUSD",
        "GUSD",
        "SUSD",
        "USDJ",
        "USDS",
        "USDSB",
        "EURS",
        "EUR",
        "GBP",
        "AUD",
        "TRY",
        "BRL",
        "RUB",
        "UAH",
        "NGN",
        "ZAR",
        "IDRT",
        "BIDR",
        "BVND",
        "JPY",
        "CHF",
        "CAD",
        "NZD",
        "USD",
        "PAXG",
        "XAUT",
        "AEUR",
        "EURI",
        "USD1",
        "BFUSD",
        "XUSD",
    }
)
LEVERAGED_SUFFIXES = ("UP", "DOWN", "BULL", "BEAR")


def is_leveraged_token(base: str) -> bool:
    return any(base.endswith(sfx) and len(base) > len(sfx) for sfx in LEVERAGED_SUFFIXES)


def spot_universe(
    exchange_info: dict[str, Any],
    quote_asset: str = "USDT",
    only: Iterable[str] | None = None,
    exclude: Iterable[str] = (),
) -> list[Market]:
    """Markets sorted by symbol.  `only` (symbols) narrows the result; unknown entries raise ValueError."""
    excluded = {s.upper() for s in exclude}
    markets: dict[str, Market] = {}
    for s in exchange_info.get("symbols", []):
        base, quote, symbol = s.get("baseAsset", ""), s.get("quoteAsset", ""), s.get("symbol", "")
        if quote != quote_asset or s.get("status") != "TRADING":
            continue
        if not s.get("isSpotTradingAllowed", True):
            continue
        if base in STABLE_AND_FIAT or is_leveraged_token(base) or symbol in excluded:
            continue
        markets[symbol] = Market.spot(base, quote)
    if only is not None:
        wanted = [x.strip().upper() for x in only if x.strip()]
        unknown = [x for x in wanted if x not in markets]
        if unknown:
            raise ValueError(f"not tradable {quote_asset} spot markets on the exchange: {', '.join(unknown)}")
        return [markets[x] for x in sorted(set(wanted))]
    return [markets[k] for k in sorted(markets)]
