"""Issue 5's property: ANY permutation WITH DUPLICATES of a fill sequence (and of an execution-report sequence)
gives the same final orders and positions, in batch and incrementally."""

from __future__ import annotations

from decimal import Decimal
from typing import TypeVar

from hypothesis import given, settings
from hypothesis import strategies as st

from binance_tool.exchange.execution import ExecutionReport, OrderStatus, OrderType, Side
from binance_tool.tracking import (
    PositionFill,
    apply_fill,
    fills_of_order,
    fold_reports,
    new_position_state,
    position_from_fills,
)
from binance_tool.trading.filters import SymbolFilters

D = Decimal
BTC = SymbolFilters(
    "BTCUSDT", step_size=D("0.001"), min_qty=D("0.001"), min_notional=D("5"), base_asset="BTC", quote_asset="USDT"
)
T = TypeVar("T")
PRICES = {"BNB": D("500")}
quantities = st.decimals(min_value=D("0.001"), max_value=D("5"), places=3)
prices = st.decimals(min_value=D("1"), max_value=D("1000"), places=2)
commission_assets = st.sampled_from(["BTC", "USDT", "BNB", "XYZ", ""])


@st.composite
def fill_sequences(draw: st.DrawFn) -> list[PositionFill]:
    n = draw(st.integers(min_value=0, max_value=12))
    out: list[PositionFill] = []
    t = 0
    for trade_id in range(1, n + 1):
        t += draw(st.integers(min_value=0, max_value=2))  # equal times happen: the trade id breaks the tie
        asset = draw(commission_assets)
        qty = draw(quantities)
        commission = D(0) if not asset else draw(st.decimals(min_value=D(0), max_value=qty / 100, places=6))
        out.append(
            PositionFill(trade_id, trade_id // 3, draw(st.sampled_from(Side)), qty, draw(prices), commission, asset, t)
        )
    return out


def permuted_with_duplicates(items: list[T]) -> st.SearchStrategy[list[T]]:
    """A shuffle of `items` with some of them repeated (redeliveries)."""
    if not items:
        return st.just([])
    dups = st.lists(st.sampled_from(items), max_size=len(items))
    return dups.flatmap(lambda extra: st.permutations([*items, *extra]))


@given(st.data())
@settings(max_examples=300)
def test_any_permutation_with_duplicates_of_fills_gives_the_same_position(data: st.DataObject) -> None:
    fills = data.draw(fill_sequences())
    shuffled = data.draw(permuted_with_duplicates(fills))
    expected = position_from_fills(fills, BTC, PRICES)
    assert position_from_fills(shuffled, BTC, PRICES) == expected
    state = new_position_state(BTC, PRICES)
    for f in shuffled:
        state = apply_fill(state, f)
    assert state.position == expected


@given(fill_sequences())
def test_quantity_held_is_never_negative_and_fees_are_never_lost(fills: list[PositionFill]) -> None:
    pos = position_from_fills(fills, BTC)
    assert pos.quantity >= 0 and pos.cost_basis >= 0
    paid = sum((f.commission for f in fills if f.commission_asset == "BNB"), D(0))
    assert pos.fees_other.get("BNB", D(0)) == paid  # no BNB price given: kept, never dropped


@st.composite
def order_lifecycles(draw: st.DrawFn, order_id: int, side: Side) -> list[ExecutionReport]:
    """NEW, some TRADE reports, then maybe a cancel (a partial order) — the reports of one order in exchange order."""
    orig = D(draw(st.integers(min_value=1, max_value=10)))
    t = draw(st.integers(min_value=0, max_value=1000))
    out = [_report(order_id, side, "NEW", OrderStatus.NEW, t, orig, D(0), D(0))]
    cum, quote, trade_id = D(0), D(0), order_id * 100
    while cum < orig and draw(st.booleans()):
        qty = min(orig - cum, D(draw(st.integers(min_value=1, max_value=4))))
        price = draw(prices)
        cum, quote, t, trade_id = cum + qty, quote + qty * price, t + draw(st.integers(0, 3)), trade_id + 1
        status = OrderStatus.FILLED if cum == orig else OrderStatus.PARTIALLY_FILLED
        out.append(_report(order_id, side, "TRADE", status, t, orig, cum, quote, (trade_id, qty, price)))
    if cum < orig and draw(st.booleans()):
        out.append(_report(order_id, side, "CANCELED", OrderStatus.CANCELED, t + 1, orig, cum, quote))
    return out


def _report(
    order_id: int,
    side: Side,
    execution_type: str,
    status: OrderStatus,
    t: int,
    orig: Decimal,
    cum: Decimal,
    quote: Decimal = D(0),
    trade: tuple[int, Decimal, Decimal] | None = None,
) -> ExecutionReport:
    trade_id, qty, price = trade if trade else (-1, D(0), D(0))
    return ExecutionReport(
        symbol="BTCUSDT",
        client_order_id=f"c{order_id}",
        original_client_order_id="",
        side=side,
        type=OrderType.LIMIT,
        execution_type=execution_type,
        status=status,
        order_id=order_id,
        orig_qty=orig,
        price=D("100"),
        stop_price=D(0),
        last_qty=qty,
        last_price=price,
        cumulative_qty=cum,
        cumulative_quote_qty=quote,
        commission=qty / 1000,
        commission_asset="BNB" if trade else None,
        trade_id=trade_id,
        event_time_ms=t,
        transaction_time_ms=t,
    )


@given(st.data())
@settings(max_examples=300)
def test_any_permutation_with_duplicates_of_reports_gives_the_same_orders_and_positions(data: st.DataObject) -> None:
    reports = [
        *data.draw(order_lifecycles(1, Side.BUY)),
        *data.draw(order_lifecycles(2, Side.SELL)),
        *data.draw(order_lifecycles(3, Side.BUY)),
    ]
    shuffled = data.draw(permuted_with_duplicates(reports))
    expected = fold_reports(reports)
    got = fold_reports(shuffled)
    assert got == expected
    for key, order in got.items():
        last = [r for r in reports if (r.symbol, r.order_id) == key][-1]
        assert (order.status, order.executed_qty) == (last.status, last.cumulative_qty)  # the exchange's last word
        assert not order.missing_fills
    fills = [f for o in got.values() for f in fills_of_order(o)]
    expected_fills = [f for o in expected.values() for f in fills_of_order(o)]
    assert position_from_fills(fills, BTC, PRICES) == position_from_fills(expected_fills, BTC, PRICES)
