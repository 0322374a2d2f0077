"""Entry and stop semantics per edge, and fees: pure `Decimal` functions shared by the executors and the backtester.

The per-edge execution settings live in one declarative table, `EXECUTION_SETTINGS`.
- entry: a LIMIT buy at `signal_price × (1 + buy_limit_pct)`, rounded DOWN to the tick (never pay above the cap),
  cancelled after `entry_timeout_candles` candles for whatever did not fill;
- stop: `fill_price × (1 − stop_pct)` rounded UP to the tick (the loss per unit never exceeds `stop_pct`), as an
  exchange-resident STOP_LOSS_LIMIT whose limit sits `stop_limit_pct` below the trigger so it fills in a gap.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal
from enum import StrEnum

from binance_tool.trading.filters import SymbolFilters


class EntryOrderType(StrEnum):
    LIMIT = "LIMIT"
    MARKET = "MARKET"


@dataclass(frozen=True)
class ExecutionSettings:
    entry_order_type: EntryOrderType = EntryOrderType.LIMIT
    buy_limit_pct: Decimal = Decimal("0.005")
    stop_pct: Decimal = Decimal("0.15")
    stop_limit_pct: Decimal = Decimal("0.05")
    entry_timeout_candles: int = 1
    allow_pyramiding: bool = False

    def __post_init__(self) -> None:
        if not Decimal(0) <= self.buy_limit_pct < 1:
            raise ValueError(f"buy_limit_pct must be in [0, 1), got {self.buy_limit_pct}")
        if not Decimal(0) < self.stop_pct < 1:
            raise ValueError(f"stop_pct must be in (0, 1), got {self.stop_pct}")
        if not Decimal(0) <= self.stop_limit_pct < 1:
            raise ValueError(f"stop_limit_pct must be in [0, 1), got {self.stop_limit_pct}")
        if self.entry_timeout_candles < 1:
            raise ValueError(f"entry_timeout_candles must be at least 1, got {self.entry_timeout_candles}")

    def entry_limit_price(self, signal_price: Decimal, filters: SymbolFilters) -> Decimal:
        return filters.price_down(signal_price * (1 + self.buy_limit_pct))

    def stop_price(self, reference_price: Decimal, filters: SymbolFilters) -> Decimal:
        """Stop trigger for a position entered at `reference_price` (the fill, or the limit when planning)."""
        return filters.price_up(reference_price * (1 - self.stop_pct))

    def stop_limit_price(self, stop_price: Decimal, filters: SymbolFilters) -> Decimal:
        return filters.price_down(stop_price * (1 - self.stop_limit_pct))

    def as_dict(self) -> dict[str, str | int | bool]:
        return {
            "entry_order_type": self.entry_order_type.value,
            "buy_limit_pct": str(self.buy_limit_pct),
            "stop_pct": str(self.stop_pct),
            "stop_limit_pct": str(self.stop_limit_pct),
            "entry_timeout_candles": self.entry_timeout_candles,
            "allow_pyramiding": self.allow_pyramiding,
        }


EXECUTION_SETTINGS: dict[str, ExecutionSettings] = {
    "edge70": ExecutionSettings(),
}
"""Per-edge execution settings: the one place an edge's order type, buy-limit cap and stop live."""


def fee(notional: Decimal, rate: Decimal) -> Decimal:
    """Fee in the quote asset for a fill of `notional`, to 1e-8, rounded up (a backtest never under-charges)."""
    return (notional * rate).quantize(_FEE_QUANTUM, rounding=ROUND_CEILING)


_FEE_QUANTUM = Decimal("0.00000001")
