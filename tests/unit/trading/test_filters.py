"""Exchange-filter rounding: rounded orders always pass the filters, and rounding never goes the unsafe way."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_tool.trading import FilterError, OrderKind, SymbolFilters, filters_from_exchange_info

D = Decimal
steps = st.sampled_from([D("0.00000001"), D("0.000001"), D("0.001"), D("0.01"), D("0.1"), D("1"), D("0.05"), D("2.5")])
amounts = st.decimals(min_value=D("0.00000001"), max_value=D("100000000"), places=8, allow_nan=False)


@st.composite
def symbol_filters(draw: st.DrawFn) -> SymbolFilters:
    tick, step = draw(steps), draw(steps)
    return SymbolFilters(
        symbol="XUSDT",
        tick_size=tick,
        min_price=tick * draw(st.integers(1, 3)),
        step_size=step,
        min_qty=step * draw(st.integers(1, 3)),
        min_notional=draw(st.sampled_from([D(0), D(5), D(10), D("0.001")])),
    )


@given(symbol_filters(), amounts, amounts)
def test_rounded_quantity_and_price_pass_the_filters_unless_below_a_minimum(f, qty, price):
    q, p = f.quantity_down(qty), f.price_down(price)
    assert q <= qty and p <= price
    assert f.price_up(price) >= price
    if q > 0 and p > 0 and q * p >= f.min_notional:
        assert f.violations(q, p) == []
    else:
        assert f.violations(q, p)


@given(symbol_filters(), amounts)
def test_quantity_rounding_loses_less_than_one_step(f, qty):
    q = f.quantity_down(qty)
    assert q == 0 or qty - q < f.step_size
    if qty < f.min_qty:
        assert q == 0


def test_off_grid_price_and_quantity_are_named_in_violations():
    f = SymbolFilters("BTCUSDT", tick_size=D("0.01"), min_price=D("0.01"), step_size=D("0.001"), min_qty=D("0.001"))
    problems = f.violations(D("0.0015"), D("100.005"))
    assert any("tickSize" in p for p in problems) and any("stepSize" in p for p in problems)


def test_min_notional_applies_to_market_orders_only_when_the_filter_says_so():
    f = SymbolFilters("X", min_notional=D(10), min_notional_applies_to_market=False)
    assert f.violations(D(1), D(5), OrderKind.MARKET) == []
    assert f.violations(D(1), D(5), OrderKind.LIMIT)


def test_snapshot_min_notional_and_todays_notional_filter_are_both_understood(shared_data: Path):
    doc = json.loads((shared_data / "exchange_info_2021-03-24.json").read_text())
    btc = filters_from_exchange_info(doc, ["BTCUSDT"])["BTCUSDT"]
    assert (btc.tick_size, btc.step_size, btc.min_notional) == (D("0.01"), D("0.000001"), D(10))
    entry = {
        "symbol": "NEWUSDT",
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": "0.001", "maxPrice": "0", "tickSize": "0.001"},
            {"filterType": "LOT_SIZE", "minQty": "0.1", "maxQty": "1000", "stepSize": "0.1"},
            {"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": True, "maxNotional": "9000"},
        ],
    }
    new = filters_from_exchange_info({"symbols": [entry]})["NEWUSDT"]
    assert (new.min_notional, new.max_notional) == (D(5), D(9000))
    assert new.violations(D("0.1"), D("10"))  # notional 1 < 5


def test_unreadable_filter_is_an_error_naming_the_symbol():
    bad = {"symbols": [{"symbol": "BADUSDT", "filters": [{"filterType": "LOT_SIZE", "minQty": "x"}]}]}
    with pytest.raises(FilterError, match="BADUSDT"):
        filters_from_exchange_info(bad)
