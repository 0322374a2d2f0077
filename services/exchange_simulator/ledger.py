"""The simulated account's balances: free and locked amount per asset, as exact `Decimal`s.  Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, ROUND_UP, Decimal

ZERO = Decimal(0)
UNIT = Decimal("0.00000001")


def q8(value: Decimal) -> Decimal:
    """Binance's 8-decimal precision, rounded half up (costs, proceeds, commissions)."""
    return value.quantize(UNIT, rounding=ROUND_HALF_UP)


def q8_up(value: Decimal) -> Decimal:
    """Rounded up to 8 decimals: what a BUY locks, never less than it can cost."""
    return value.quantize(UNIT, rounding=ROUND_UP)


def fmt8(value: Decimal) -> str:
    return format(value.quantize(UNIT, rounding=ROUND_HALF_UP), "f")


class InsufficientBalance(ValueError):
    pass


@dataclass
class Balance:
    free: Decimal = ZERO
    locked: Decimal = ZERO


class Ledger:
    """Balances of one account.  `assets` are listed even at zero (as Binance lists every asset)."""

    def __init__(self, initial: Mapping[str, Decimal], assets: Iterable[str] = ()) -> None:
        self.balances: dict[str, Balance] = {a: Balance() for a in sorted(set(assets) | set(initial))}
        for asset, amount in initial.items():
            self.balances[asset].free = Decimal(amount)
        self.update_time = 0

    def _get(self, asset: str) -> Balance:
        return self.balances.setdefault(asset, Balance())

    def free(self, asset: str) -> Decimal:
        return self._get(asset).free

    def locked(self, asset: str) -> Decimal:
        return self._get(asset).locked

    def lock(self, asset: str, amount: Decimal) -> None:
        b = self._get(asset)
        if amount > b.free:
            raise InsufficientBalance(asset)
        b.free -= amount
        b.locked += amount

    def unlock(self, asset: str, amount: Decimal) -> None:
        b = self._get(asset)
        b.locked -= amount
        b.free += amount

    def take_locked(self, asset: str, amount: Decimal) -> None:
        """Spend `amount` of what is locked (a fill of a resting order)."""
        self._get(asset).locked -= amount

    def credit(self, asset: str, amount: Decimal) -> None:
        self._get(asset).free += amount

    def debit(self, asset: str, amount: Decimal) -> None:
        b = self._get(asset)
        if amount > b.free:
            raise InsufficientBalance(asset)
        b.free -= amount

    def touch(self, time_ms: int) -> None:
        self.update_time = max(self.update_time, time_ms)

    def wire(self, assets: Iterable[str]) -> list[dict[str, str]]:
        """`outboundAccountPosition.B` entries."""
        return [{"a": a, "f": fmt8(self._get(a).free), "l": fmt8(self._get(a).locked)} for a in assets]

    def rest(self, omit_zero: bool = False) -> list[dict[str, str]]:
        """`GET /api/v3/account` balances."""
        return [
            {"asset": a, "free": fmt8(b.free), "locked": fmt8(b.locked)}
            for a, b in sorted(self.balances.items())
            if not (omit_zero and b.free == 0 and b.locked == 0)
        ]
