"""Binance symbol filters (PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL / NOTIONAL) and exact rounding to them.

Pure code on `Decimal`.  Steps and ticks need not be powers of ten: rounding is done on the integer number of
steps from the filter's minimum (`(x - min) // step`), the way Binance validates them.  A step or tick of 0 means
the filter is disabled for that property (Binance's convention).

Older symbols carry `MIN_NOTIONAL` (`minNotional`, `applyToMarket`), today's carry `NOTIONAL` (`minNotional`,
`applyMinToMarket`, `maxNotional`, `applyMaxToMarket`); both are accepted.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from enum import StrEnum
from typing import Any

ZERO = Decimal(0)
ONE_UNIT = Decimal("0.00000001")


class FilterError(ValueError):
    """An exchangeInfo document or a symbol entry that cannot be understood (the message names it)."""


class OrderKind(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


@dataclass(frozen=True)
class SymbolFilters:
    symbol: str
    tick_size: Decimal = ONE_UNIT
    min_price: Decimal = ZERO
    max_price: Decimal = ZERO  # 0 = no maximum
    step_size: Decimal = ONE_UNIT
    min_qty: Decimal = ZERO
    max_qty: Decimal = ZERO  # 0 = no maximum
    min_notional: Decimal = ZERO
    min_notional_applies_to_market: bool = True
    max_notional: Decimal = ZERO  # 0 = no maximum
    max_notional_applies_to_market: bool = False
    base_asset: str = ""
    quote_asset: str = ""

    # --- rounding -------------------------------------------------------------------------------------------
    def quantity_down(self, qty: Decimal) -> Decimal:
        """Largest quantity <= qty on the LOT_SIZE grid (never more than asked: sizing caps stay caps)."""
        return _to_grid(qty, self.min_qty, self.step_size, ROUND_FLOOR)

    def price_down(self, price: Decimal) -> Decimal:
        return _to_grid(price, self.min_price, self.tick_size, ROUND_FLOOR)

    def price_up(self, price: Decimal) -> Decimal:
        return _to_grid(price, self.min_price, self.tick_size, ROUND_CEILING)

    # --- validation -----------------------------------------------------------------------------------------
    def violations(self, quantity: Decimal, price: Decimal, kind: OrderKind = OrderKind.LIMIT) -> list[str]:
        """Reasons Binance would reject this order with -1013 (empty when it passes). For MARKET orders `price`
        is the reference (average) price the notional filters are evaluated at."""
        out: list[str] = []
        if quantity <= 0:
            out.append(f"quantity {quantity} must be positive")
        if price <= 0:
            out.append(f"price {price} must be positive")
        if out:
            return out
        if kind is OrderKind.LIMIT:
            out += self.price_violations(price)
        if quantity < self.min_qty:
            out.append(f"LOT_SIZE: quantity {quantity} < minQty {self.min_qty}")
        if self.max_qty and quantity > self.max_qty:
            out.append(f"LOT_SIZE: quantity {quantity} > maxQty {self.max_qty}")
        if not _on_grid(quantity, self.min_qty, self.step_size):
            out.append(f"LOT_SIZE: quantity {quantity} is not a multiple of stepSize {self.step_size}")
        notional = quantity * price
        market = kind is OrderKind.MARKET
        if (not market or self.min_notional_applies_to_market) and notional < self.min_notional:
            out.append(f"NOTIONAL: notional {notional} < minNotional {self.min_notional}")
        if self.max_notional and (not market or self.max_notional_applies_to_market) and notional > self.max_notional:
            out.append(f"NOTIONAL: notional {notional} > maxNotional {self.max_notional}")
        return out

    def price_violations(self, price: Decimal) -> list[str]:
        """PRICE_FILTER reasons to reject a limit or stop price."""
        out = []
        if price < self.min_price:
            out.append(f"PRICE_FILTER: price {price} < minPrice {self.min_price}")
        if self.max_price and price > self.max_price:
            out.append(f"PRICE_FILTER: price {price} > maxPrice {self.max_price}")
        if not _on_grid(price, self.min_price, self.tick_size):
            out.append(f"PRICE_FILTER: price {price} is not a multiple of tickSize {self.tick_size}")
        return out

    def is_tradable(self, quantity: Decimal, price: Decimal, kind: OrderKind = OrderKind.LIMIT) -> bool:
        return not self.violations(quantity, price, kind)

    @classmethod
    def from_symbol_entry(cls, entry: Mapping[str, Any]) -> SymbolFilters:
        symbol = str(entry.get("symbol", "?"))
        try:
            by_type = {f["filterType"]: f for f in entry.get("filters", [])}
            kw: dict[str, Any] = {
                "symbol": symbol,
                "base_asset": str(entry.get("baseAsset", "")),
                "quote_asset": str(entry.get("quoteAsset", "")),
            }
            if p := by_type.get("PRICE_FILTER"):
                kw |= {"tick_size": _d(p["tickSize"]), "min_price": _d(p["minPrice"]), "max_price": _d(p["maxPrice"])}
            if lot := by_type.get("LOT_SIZE"):
                kw |= {"step_size": _d(lot["stepSize"]), "min_qty": _d(lot["minQty"]), "max_qty": _d(lot["maxQty"])}
            if n := by_type.get("NOTIONAL"):
                kw |= {
                    "min_notional": _d(n.get("minNotional", "0")),
                    "min_notional_applies_to_market": bool(n.get("applyMinToMarket", True)),
                    "max_notional": _d(n.get("maxNotional", "0")),
                    "max_notional_applies_to_market": bool(n.get("applyMaxToMarket", False)),
                }
            elif mn := by_type.get("MIN_NOTIONAL"):
                kw |= {
                    "min_notional": _d(mn["minNotional"]),
                    "min_notional_applies_to_market": bool(mn.get("applyToMarket", True)),
                }
        except (KeyError, TypeError, ArithmeticError, ValueError) as exc:
            raise FilterError(f"exchangeInfo symbol {symbol}: unreadable filter ({exc!r})") from None
        filters = cls(**kw)
        if filters.tick_size < 0 or filters.step_size < 0 or filters.min_notional < 0:
            raise FilterError(f"exchangeInfo symbol {symbol}: negative tickSize/stepSize/minNotional")
        return filters


UNFILTERED = SymbolFilters(symbol="*")
"""Exchange precision only (1e-8 price and quantity, no minimum notional): for comparisons with other tools."""


def filters_from_exchange_info(
    document: Mapping[str, Any], symbols: Iterable[str] | None = None
) -> dict[str, SymbolFilters]:
    """Parse a `GET /api/v3/exchangeInfo` response; only `symbols` when given (missing ones are simply absent)."""
    entries = document.get("symbols")
    if not isinstance(entries, list):
        raise FilterError("exchangeInfo: no 'symbols' list")
    wanted = None if symbols is None else set(symbols)
    out: dict[str, SymbolFilters] = {}
    for entry in entries:
        if not isinstance(entry, Mapping) or "symbol" not in entry:
            raise FilterError("exchangeInfo: a symbol entry without 'symbol'")
        if wanted is None or entry["symbol"] in wanted:
            out[str(entry["symbol"])] = SymbolFilters.from_symbol_entry(entry)
    return out


def derived_filter_values(median_price: float, data_decimals: int) -> dict[str, dict[str, str]]:
    """Plausible PRICE_FILTER / LOT_SIZE values for a symbol missing from an exchangeInfo snapshot, from its price
    level P (median close) and the most decimals its prices use:

    - tickSize = 10^(floor(log10 P) − 4), at most 0.01, made finer so every price in the data is on the grid;
    - stepSize = minQty = 10^−(floor(log10 P) + 2), clamped to [1e-8, 1];
    - MARKET_LOT_SIZE maxQty = 1,000,000 quote / P.
    The exchange simulator serves these for such symbols and the backtester uses them, so both agree."""
    magnitude = math.floor(math.log10(median_price)) if median_price > 0 else 0
    tick_exp = max(-8, min(magnitude - 4, -2, -data_decimals))
    tick = Decimal(1).scaleb(tick_exp)
    step = Decimal(1).scaleb(max(-8, min(0, -(magnitude + 2))))
    market_max = (Decimal(1_000_000) / Decimal(repr(median_price))).quantize(step, rounding=ROUND_FLOOR)
    return {
        "PRICE_FILTER": {"minPrice": _fmt8(tick), "maxPrice": "1000000.00000000", "tickSize": _fmt8(tick)},
        "LOT_SIZE": {"minQty": _fmt8(step), "maxQty": "9000000.00000000", "stepSize": _fmt8(step)},
        "MARKET_LOT_SIZE": {"minQty": "0.00000000", "maxQty": _fmt8(market_max), "stepSize": "0.00000000"},
    }


def _fmt8(d: Decimal) -> str:
    return format(d.quantize(ONE_UNIT, rounding=ROUND_FLOOR), "f")


def _d(value: Any) -> Decimal:
    d = Decimal(str(value))
    if not d.is_finite():
        raise ValueError(f"not a finite number: {value!r}")
    return d


def _to_grid(x: Decimal, base: Decimal, step: Decimal, rounding: str) -> Decimal:
    if step <= 0:
        return x
    n = ((x - base) / step).to_integral_value(rounding=rounding)
    if n < 0:  # below the minimum: nothing on the grid is <= x; the minimum is the first value >= x
        return ZERO if rounding == ROUND_FLOOR else base
    return base + n * step


def _on_grid(x: Decimal, base: Decimal, step: Decimal) -> bool:
    return step <= 0 or (x - base) % step == 0
