"""Exact fixed-point price units for vectorised code: 1 unit = 1e-8 of the quote asset (Binance's precision)."""

from __future__ import annotations

from decimal import Decimal

PRICE_DECIMALS = 8
PRICE_SCALE = 10**PRICE_DECIMALS


def to_units(value: Decimal | str) -> int:
    """Decimal → integer units; raises ValueError when the value has more than 8 decimals."""
    d = value if isinstance(value, Decimal) else Decimal(value)
    scaled = d.scaleb(PRICE_DECIMALS)
    integral = scaled.to_integral_value()
    if scaled != integral:
        raise ValueError(f"{value} has more than {PRICE_DECIMALS} decimals")
    return int(integral)


def from_units(units: int) -> Decimal:
    return Decimal(units).scaleb(-PRICE_DECIMALS).normalize()
