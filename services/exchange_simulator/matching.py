"""Pure matching of one resting order against one hourly candle.  No I/O.

The price path inside a candle is assumed to be O -> L -> H -> C when the candle closes at or above its open, else
O -> H -> L -> C (each leg monotonic).  Walking it:

- a working LIMIT BUY at `p` fills at the open if the candle opens at or below `p` (at the open price: min(open, p)),
  else at `p` when a leg reaches it; SELL symmetric (open at or above `p`, else `p` when reached);
- a STOP_LOSS_LIMIT SELL triggers when the price falls to `stopPrice` (at the open if the candle gaps below it),
  BUY when it rises to it; from that point on the path it works as a LIMIT at `price`: it fills at the trigger
  price if that is marketable (taker), else at `price` when a later part of the path reaches it (maker).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal

ZERO = Decimal(0)


@dataclass(frozen=True)
class Walk:
    triggered: bool  # the order is (now) working: a LIMIT, or a stop whose stop price was reached
    fill_price: Decimal | None  # None: not reached in this candle
    maker: bool = True  # False when it filled on becoming marketable at the trigger


def candle_path(o: Decimal, h: Decimal, low: Decimal, c: Decimal) -> list[Decimal]:
    return [o, low, h, c] if c >= o else [o, h, low, c]


def _marketable(side: str, limit: Decimal, price: Decimal) -> bool:
    return price <= limit if side == "BUY" else price >= limit


def _stop_reached(side: str, stop: Decimal, price: Decimal) -> bool:
    return price >= stop if side == "BUY" else price <= stop


def _crosses(a: Decimal, b: Decimal, level: Decimal) -> bool:
    return min(a, b) <= level <= max(a, b)


def walk(path: list[Decimal], side: str, limit: Decimal, stop: Decimal | None, triggered: bool) -> Walk:
    """Where along `path` a LIMIT order at `limit` (a stop-limit with `stop` when not yet `triggered`) fills."""
    price = path[0]
    active = triggered or stop is None
    maker = active  # a working order matched by the market is the maker
    if not active and stop is not None and _stop_reached(side, stop, price):
        active = True
    if active and _marketable(side, limit, price):
        return Walk(True, price, maker)
    for target in path[1:]:
        if not active:
            assert stop is not None
            if not _crosses(price, target, stop):
                price = target
                continue
            active, price = True, stop
            if _marketable(side, limit, price):
                return Walk(True, price, False)
        if _crosses(price, target, limit):
            return Walk(True, limit, True)
        price = target
    return Walk(active, None)


def fill_quantity(remaining: Decimal, ratio: Decimal, step: Decimal, min_qty: Decimal) -> Decimal:
    """What one crossing candle fills: `ratio` of the remaining quantity rounded down to the lot step; all of it
    when that rounds to nothing or would leave less than the minimum quantity."""
    if ratio >= 1:
        return remaining
    qty = remaining * ratio
    if step > 0:
        qty = (qty / step).to_integral_value(rounding=ROUND_FLOOR) * step
    if qty <= ZERO or remaining - qty < max(min_qty, step):
        return remaining
    return qty


def first_touch(path: list[Decimal], level: Decimal, rising: bool) -> Decimal | None:
    """Where along `path` the price first reaches `level` (rising: at or above it; else at or below it): 0 at the
    open, i + t (t in (0, 1]) on the leg from path[i] to path[i + 1]; None if it never does.  Orders two events of
    one candle (which leg of an OCO acts first)."""

    def reached(price: Decimal) -> bool:
        return price >= level if rising else price <= level

    if reached(path[0]):
        return ZERO
    for i, (a, b) in enumerate(itertools.pairwise(path)):
        if reached(b):
            return i + (level - a) / (b - a)
    return None
