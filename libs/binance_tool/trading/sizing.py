"""Risk-based position sizing (see `../shared/docs/edge70-and-trading-rules.md`): the engine decides, the caller
cannot override.  Pure code on `Decimal`, shared by the live position sizer and the backtester.

quantity = min over the caps below, rounded DOWN to the symbol's LOT_SIZE step; the smallest cap is the decision's
`binding` constraint:
- RISK_PER_TRADE           portfolio_value × risk_per_trade / (entry − stop)
- MAX_POSITION_PCT         portfolio_value × max_position_pct / entry
- FREE_BALANCE             free_quote / (entry × (1 + fee_reserve_rate))
- MAX_OPEN_PORTFOLIO_RISK  (portfolio_value × max_open_portfolio_risk − risk already open) / (entry − stop)
- LOT_SIZE_MAX_QTY / MAX_NOTIONAL  the exchange's own maximums
Portfolio value = free + reserved quote + every open position marked to market.  Pending (unfilled) entries count
as open positions and open risk, and their cash is reserved.  All divisions round toward zero, so no cap is
exceeded by a rounding digit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_FLOOR, Decimal, localcontext
from enum import StrEnum
from typing import NamedTuple

from binance_tool.trading.filters import SymbolFilters

ZERO = Decimal(0)


class TradingMode(StrEnum):
    """The operator's kill switch."""

    ACTIVE = "active"
    REDUCE_ONLY = "reduce-only"  # no new entries; exits and stop changes allowed
    HALTED = "halted"  # nothing is sent (exchange-resident stops still work)

    @property
    def allows_entries(self) -> bool:
        return self is TradingMode.ACTIVE

    @property
    def allows_exits(self) -> bool:
        return self is not TradingMode.HALTED


class RiskBasis(StrEnum):
    ENTRY = "entry"  # quantity × (entry − stop)
    MARK = "mark"  # quantity × max(0, mark − stop): unrealised profit above the stop is at risk too


class Constraint(StrEnum):
    # caps (a sized decision names the smallest)
    RISK_PER_TRADE = "RISK_PER_TRADE"
    MAX_POSITION_PCT = "MAX_POSITION_PCT"
    FREE_BALANCE = "FREE_BALANCE"
    MAX_OPEN_PORTFOLIO_RISK = "MAX_OPEN_PORTFOLIO_RISK"
    LOT_SIZE_MAX_QTY = "LOT_SIZE_MAX_QTY"
    MAX_NOTIONAL = "MAX_NOTIONAL"
    # refusals before any cap is computed
    KILL_SWITCH = "KILL_SWITCH"
    ALREADY_IN_POSITION = "ALREADY_IN_POSITION"
    NO_STOP = "NO_STOP"
    INVALID_STOP = "INVALID_STOP"
    MAX_OPEN_POSITIONS = "MAX_OPEN_POSITIONS"
    NO_PORTFOLIO_VALUE = "NO_PORTFOLIO_VALUE"
    PRICE_FILTER = "PRICE_FILTER"


class Refusal(StrEnum):
    TRADING_HALTED = "TRADING_HALTED"
    ALREADY_IN_POSITION = "ALREADY_IN_POSITION"
    NO_STOP = "NO_STOP"
    INVALID_STOP = "INVALID_STOP"
    MAX_OPEN_POSITIONS = "MAX_OPEN_POSITIONS"
    NO_PORTFOLIO_VALUE = "NO_PORTFOLIO_VALUE"
    INVALID_PRICE = "INVALID_PRICE"  # entry price off the exchange's PRICE_FILTER
    TOO_SMALL_TO_TRADE = "TOO_SMALL_TO_TRADE"  # the binding cap left less than the exchange's minimums


@dataclass(frozen=True)
class SizingRules:
    risk_per_trade: Decimal = Decimal("0.01")
    max_position_pct: Decimal = Decimal("0.20")
    max_open_portfolio_risk: Decimal = Decimal("0.10")
    max_open_positions: int = 10
    open_risk_basis: RiskBasis = RiskBasis.ENTRY
    allowed_to_trade_without_stop: bool = False
    fee_reserve_rate: Decimal = Decimal("0.001")  # kept free on top of the notional for the entry fee

    def __post_init__(self) -> None:
        for name in ("risk_per_trade", "max_position_pct", "max_open_portfolio_risk"):
            value = getattr(self, name)
            if not (isinstance(value, Decimal) and value.is_finite() and ZERO < value <= 1):
                raise ValueError(f"{name} must be a fraction in (0, 1], got {value}")
        if not (isinstance(self.fee_reserve_rate, Decimal) and ZERO <= self.fee_reserve_rate < 1):
            raise ValueError(f"fee_reserve_rate must be in [0, 1), got {self.fee_reserve_rate}")
        if self.max_open_positions < 1:
            raise ValueError(f"max_open_positions must be at least 1, got {self.max_open_positions}")

    def as_dict(self) -> dict[str, str | int | bool]:
        return {
            "risk_per_trade": str(self.risk_per_trade),
            "max_position_pct": str(self.max_position_pct),
            "max_open_portfolio_risk": str(self.max_open_portfolio_risk),
            "max_open_positions": self.max_open_positions,
            "open_risk_basis": self.open_risk_basis.value,
            "allowed_to_trade_without_stop": self.allowed_to_trade_without_stop,
            "fee_reserve_rate": str(self.fee_reserve_rate),
        }


class Exposure(NamedTuple):
    """An open position, or a pending (unfilled) entry order, as the sizer sees it (an immutable value)."""

    symbol: str
    quantity: Decimal
    entry_price: Decimal  # average fill price, or the limit price of a pending entry
    stop_price: Decimal | None
    mark_price: Decimal
    pending: bool = False

    def risk(self, basis: RiskBasis) -> Decimal:
        """Loss if the stop is hit (the whole value when there is no stop)."""
        if self.stop_price is None:
            return self.quantity * (self.entry_price if self.pending else self.mark_price)
        reference = self.mark_price if basis is RiskBasis.MARK and not self.pending else self.entry_price
        return self.quantity * max(ZERO, reference - self.stop_price)


@dataclass(frozen=True)
class PortfolioState:
    free_quote: Decimal  # spendable quote balance
    reserved_quote: Decimal = ZERO  # quote locked in pending entry orders
    exposures: Sequence[Exposure] = field(default_factory=tuple)

    @property
    def value(self) -> Decimal:
        held = sum((e.quantity * e.mark_price for e in self.exposures if not e.pending), ZERO)
        return self.free_quote + self.reserved_quote + held

    def open_risk(self, basis: RiskBasis) -> Decimal:
        return sum((e.risk(basis) for e in self.exposures), ZERO)

    def holds(self, symbol: str) -> bool:
        return any(e.symbol == symbol for e in self.exposures)


@dataclass(frozen=True)
class SizingDecision:
    symbol: str
    quantity: Decimal  # 0 when refused
    entry_price: Decimal
    stop_price: Decimal | None
    binding: Constraint
    refusal: Refusal | None
    reason: str
    portfolio_value: Decimal
    caps: dict[str, Decimal]  # every cap's quantity (before LOT_SIZE rounding)

    @property
    def accepted(self) -> bool:
        return self.refusal is None

    @property
    def notional(self) -> Decimal:
        return self.quantity * self.entry_price

    @property
    def risk(self) -> Decimal:
        stop = self.stop_price if self.stop_price is not None else ZERO
        return self.quantity * (self.entry_price - stop)

    def as_dict(self) -> dict[str, object]:
        return {
            "symbol": self.symbol,
            "accepted": self.accepted,
            "quantity": str(self.quantity),
            "entry_price": str(self.entry_price),
            "stop_price": None if self.stop_price is None else str(self.stop_price),
            "binding": self.binding.value,
            "refusal": None if self.refusal is None else self.refusal.value,
            "reason": self.reason,
            "portfolio_value": str(self.portfolio_value),
            "caps": {k: str(v) for k, v in self.caps.items()},
        }


def size_entry(
    rules: SizingRules,
    state: PortfolioState,
    filters: SymbolFilters,
    entry_price: Decimal,
    stop_price: Decimal | None,
    mode: TradingMode = TradingMode.ACTIVE,
) -> SizingDecision:
    """Size a long entry at `entry_price` (the limit, on the tick grid) protected by `stop_price`."""
    symbol = filters.symbol
    value = state.value

    def refuse(
        binding: Constraint, refusal: Refusal, reason: str, caps: dict[str, Decimal] | None = None
    ) -> SizingDecision:
        return SizingDecision(symbol, ZERO, entry_price, stop_price, binding, refusal, reason, value, caps or {})

    if not mode.allows_entries:
        return refuse(Constraint.KILL_SWITCH, Refusal.TRADING_HALTED, f"trading mode is {mode.value}: no new entries")
    if state.holds(symbol):
        return refuse(
            Constraint.ALREADY_IN_POSITION, Refusal.ALREADY_IN_POSITION, f"{symbol} already has a position or entry"
        )
    if stop_price is None and not rules.allowed_to_trade_without_stop:
        return refuse(Constraint.NO_STOP, Refusal.NO_STOP, "trading without a stop is not allowed")
    if entry_price <= 0 or (stop_price is not None and not ZERO < stop_price < entry_price):
        return refuse(
            Constraint.INVALID_STOP, Refusal.INVALID_STOP, f"need 0 < stop {stop_price} < entry {entry_price}"
        )
    if price_problems := filters.price_violations(entry_price):
        return refuse(Constraint.PRICE_FILTER, Refusal.INVALID_PRICE, "; ".join(price_problems))
    if len(state.exposures) >= rules.max_open_positions:
        return refuse(
            Constraint.MAX_OPEN_POSITIONS,
            Refusal.MAX_OPEN_POSITIONS,
            f"{len(state.exposures)} open positions and entries (max {rules.max_open_positions})",
        )
    if value <= 0:
        return refuse(Constraint.NO_PORTFOLIO_VALUE, Refusal.NO_PORTFOLIO_VALUE, f"portfolio value is {value}")

    with localcontext() as ctx:
        ctx.prec = 50
        ctx.rounding = ROUND_FLOOR  # every cap rounds toward zero
        risk_per_unit = entry_price - stop_price if stop_price is not None else entry_price
        room = value * rules.max_open_portfolio_risk - state.open_risk(rules.open_risk_basis)
        caps: dict[str, Decimal] = {
            Constraint.RISK_PER_TRADE: value * rules.risk_per_trade / risk_per_unit,
            Constraint.MAX_POSITION_PCT: value * rules.max_position_pct / entry_price,
            Constraint.FREE_BALANCE: max(ZERO, state.free_quote) / (entry_price * (1 + rules.fee_reserve_rate)),
            Constraint.MAX_OPEN_PORTFOLIO_RISK: max(ZERO, room) / risk_per_unit,
        }
        if filters.max_qty:
            caps[Constraint.LOT_SIZE_MAX_QTY] = filters.max_qty
        if filters.max_notional:
            caps[Constraint.MAX_NOTIONAL] = filters.max_notional / entry_price
    binding = Constraint(min(caps, key=lambda k: caps[k]))  # dict order breaks ties: risk first
    quantity = filters.quantity_down(caps[binding])
    problems = filters.violations(quantity, entry_price) if quantity > 0 else ["quantity rounds to 0"]
    if problems:
        return refuse(
            binding,
            Refusal.TOO_SMALL_TO_TRADE,
            f"too small to trade: {binding.value} allows {caps[binding]:.8f}; " + "; ".join(problems),
            caps,
        )
    reason = f"sized by {binding.value}: {quantity} at {entry_price}"
    return SizingDecision(symbol, quantity, entry_price, stop_price, binding, None, reason, value, caps)
