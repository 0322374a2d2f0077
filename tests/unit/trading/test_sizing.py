"""Risk-based sizing: never more risk, size, cash or open risk than the rules allow; always tradable; audited."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from binance_tool.trading import (
    Constraint,
    ExecutionSettings,
    Exposure,
    PortfolioState,
    Refusal,
    RiskBasis,
    SizingRules,
    SymbolFilters,
    TradingMode,
    size_entry,
)

D = Decimal
money = st.decimals(min_value=D("0"), max_value=D("10000000"), places=8, allow_nan=False)
prices = st.decimals(min_value=D("0.0001"), max_value=D("100000"), places=8, allow_nan=False)
fractions = st.decimals(min_value=D("0.001"), max_value=D("1"), places=3)


@st.composite
def filters(draw: st.DrawFn) -> SymbolFilters:
    tick = draw(st.sampled_from([D("0.00000001"), D("0.0001"), D("0.01")]))
    step = draw(st.sampled_from([D("0.00000001"), D("0.001"), D("1")]))
    return SymbolFilters("NEWUSDT", tick_size=tick, min_price=tick, step_size=step, min_qty=step, min_notional=D(10))


@st.composite
def exposures(draw: st.DrawFn) -> Exposure:
    entry = draw(prices)
    return Exposure(
        symbol=draw(st.sampled_from(["AUSDT", "BUSDT", "CUSDT", "DUSDT"])),
        quantity=draw(st.decimals(min_value=D("0.001"), max_value=D("1000"), places=3)),
        entry_price=entry,
        stop_price=entry * D("0.85"),
        mark_price=draw(prices),
        pending=draw(st.booleans()),
    )


@st.composite
def rules(draw: st.DrawFn) -> SizingRules:
    return SizingRules(
        risk_per_trade=draw(fractions),
        max_position_pct=draw(fractions),
        max_open_portfolio_risk=draw(fractions),
        max_open_positions=draw(st.integers(1, 6)),
        open_risk_basis=draw(st.sampled_from(list(RiskBasis))),
    )


@settings(max_examples=400)
@given(rules(), money, money, st.lists(exposures(), max_size=5), filters(), prices, st.sampled_from(["0.15", "0.01"]))
def test_a_sized_entry_never_exceeds_any_cap_and_is_accepted_by_the_filters(r, free, reserved, exp, f, signal, stop):
    ex = ExecutionSettings(stop_pct=D(stop))
    entry = ex.entry_limit_price(signal, f)
    stop_price = ex.stop_price(entry, f)
    assume(entry > 0 and 0 < stop_price < entry)
    state = PortfolioState(free_quote=free, reserved_quote=reserved, exposures=tuple(exp))
    d = size_entry(r, state, f, entry, stop_price)
    if not d.accepted:
        assert d.quantity == 0 and d.reason
        return
    value = state.value
    q = d.quantity
    assert q > 0
    assert q * (entry - stop_price) <= value * r.risk_per_trade
    assert q * entry <= value * r.max_position_pct
    assert q * entry * (1 + r.fee_reserve_rate) <= free
    assert state.open_risk(r.open_risk_basis) + q * (entry - stop_price) <= value * r.max_open_portfolio_risk
    assert len(exp) < r.max_open_positions
    assert f.violations(q, entry) == []
    assert d.binding.value in d.caps and d.caps[d.binding] == min(d.caps.values())


def test_default_rules_size_one_percent_risk_and_name_the_binding_constraint():
    f = SymbolFilters("BTCUSDT", tick_size=D("0.01"), step_size=D("0.00001"), min_notional=D(10))
    d = size_entry(SizingRules(), PortfolioState(free_quote=D(10000)), f, D(100), D(85))
    assert d.accepted and d.binding is Constraint.RISK_PER_TRADE
    assert d.quantity == D("6.66666")  # 100 / 15, stepped down
    assert d.risk <= D(100)


def test_the_position_cap_binds_when_the_stop_is_tight():
    f = SymbolFilters("BTCUSDT")
    d = size_entry(SizingRules(), PortfolioState(free_quote=D(10000)), f, D(100), D(99))
    assert d.binding is Constraint.MAX_POSITION_PCT and d.quantity == D(20)


def test_free_balance_binds_when_cash_is_short():
    f = SymbolFilters("BTCUSDT")
    held = Exposure("ETHUSDT", D(95), D(100), D(99), D(100))  # 9,500 held (95 at risk), 500 cash
    d = size_entry(SizingRules(), PortfolioState(free_quote=D(500), exposures=(held,)), f, D(100), D(85))
    assert d.binding is Constraint.FREE_BALANCE
    assert d.quantity * D(100) * D("1.001") <= D(500)


def test_open_portfolio_risk_cap_sizes_down_then_refuses_when_full():
    f = SymbolFilters("XUSDT", min_notional=D(10))
    held = tuple(Exposure(f"S{i}USDT", D(7), D(100), D(85), D(100)) for i in range(9))  # 9 × 105 risk
    state = PortfolioState(free_quote=D(3700), exposures=held)
    d = size_entry(SizingRules(), state, f, D(100), D(85))
    assert d.binding is Constraint.MAX_OPEN_PORTFOLIO_RISK and d.accepted
    full = tuple(Exposure(f"S{i}USDT", D("7.4"), D(100), D(85), D(100)) for i in range(9))  # 9 × 111 risk
    d = size_entry(SizingRules(), PortfolioState(free_quote=D(3340), exposures=full), f, D(100), D(85))
    assert d.refusal is Refusal.TOO_SMALL_TO_TRADE and d.binding is Constraint.MAX_OPEN_PORTFOLIO_RISK


def test_mark_basis_counts_unrealised_profit_above_the_stop_as_risk():
    winner = Exposure("ETHUSDT", D(10), D(100), D(85), D(300))
    assert winner.risk(RiskBasis.ENTRY) == D(150)
    assert winner.risk(RiskBasis.MARK) == D(2150)


def test_refusals_are_explicit():
    f = SymbolFilters("BTCUSDT", tick_size=D("0.01"))
    state = PortfolioState(free_quote=D(10000))
    assert size_entry(SizingRules(), state, f, D(100), D(85), TradingMode.HALTED).refusal is Refusal.TRADING_HALTED
    assert size_entry(SizingRules(), state, f, D(100), D(85), TradingMode.REDUCE_ONLY).binding is Constraint.KILL_SWITCH
    assert size_entry(SizingRules(), state, f, D(100), None).refusal is Refusal.NO_STOP
    assert size_entry(SizingRules(), state, f, D(100), D(100)).refusal is Refusal.INVALID_STOP
    assert size_entry(SizingRules(), state, f, D("100.001"), D(85)).refusal is Refusal.INVALID_PRICE
    held = PortfolioState(free_quote=D(9000), exposures=(Exposure("BTCUSDT", D(1), D(100), D(85), D(100)),))
    assert size_entry(SizingRules(), held, f, D(100), D(85)).refusal is Refusal.ALREADY_IN_POSITION
    one = SizingRules(max_open_positions=1)
    other = PortfolioState(free_quote=D(9000), exposures=(Exposure("ETHUSDT", D(1), D(100), D(85), D(100)),))
    assert size_entry(one, other, f, D(100), D(85)).refusal is Refusal.MAX_OPEN_POSITIONS
    assert size_entry(SizingRules(), PortfolioState(free_quote=D(0)), f, D(100), D(85)).refusal is (
        Refusal.NO_PORTFOLIO_VALUE
    )


def test_too_small_to_trade_is_refused_not_sent():
    f = SymbolFilters("BTCUSDT", min_notional=D(10))
    d = size_entry(SizingRules(), PortfolioState(free_quote=D(50)), f, D(100), D(85))
    assert d.refusal is Refusal.TOO_SMALL_TO_TRADE and "minNotional" in d.reason


def test_stop_and_limit_prices_round_to_the_safe_side():
    f = SymbolFilters("X", tick_size=D("0.01"), min_price=D("0.01"))
    ex = ExecutionSettings()
    assert ex.entry_limit_price(D("10.01"), f) == D("10.06")  # 10.06005 → down
    assert ex.stop_price(D("10.03"), f) == D("8.53")  # 8.5255 → up: risk per unit ≤ 15 %
