"""Positions from fills: average cost, fees in base / quote / other assets, closing at the exchange minimums."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from binance_tool.exchange.execution import ExecutionReport, OrderStatus, OrderType, Side, TradeRecord
from binance_tool.tracking import (
    FillConflict,
    PositionFill,
    PositionKey,
    apply_fill,
    fill_from_trade,
    fills_of_order,
    fold_reports,
    new_position_state,
    position_from_fills,
    unrealised_pnl,
)
from binance_tool.trading.filters import SymbolFilters

D = Decimal
BTC = SymbolFilters(
    "BTCUSDT", step_size=D("0.0001"), min_qty=D("0.0001"), min_notional=D("5"), base_asset="BTC", quote_asset="USDT"
)


def fill(
    trade_id: int,
    side: Side,
    qty: str,
    price: str,
    commission: str = "0",
    asset: str = "USDT",
    t: int | None = None,
    edge: str | None = "e70",
    order_id: int = 1,
) -> PositionFill:
    return PositionFill(
        trade_id=trade_id,
        order_id=order_id,
        side=side,
        quantity=D(qty),
        price=D(price),
        commission=D(commission),
        commission_asset=asset,
        time_ms=t if t is not None else trade_id * 1000,
        edge=edge,
    )


B, S = Side.BUY, Side.SELL


def test_realised_pnl_equals_the_hand_computed_sum_for_a_concrete_sequence() -> None:
    fills = [
        fill(1, B, "1", "100", "0.1"),
        fill(2, B, "1", "200", "0.2"),
        fill(3, S, "0.5", "300", "0.15"),
        fill(4, S, "1.5", "90", "0.135"),
    ]
    mid = position_from_fills(fills[:3], BTC)
    assert mid.quantity == D("1.5") and mid.average_entry_price == D("150.15")
    assert mid.realised_pnl == D("150") - D("75.075") - D("0.15")
    pos = position_from_fills(fills, BTC)
    # sells 150 + 135, buys 100 + 200, fees 0.1 + 0.2 + 0.15 + 0.135
    assert pos.realised_pnl == D("285") - D("300") - D("0.585") == D("-15.585")
    assert pos.fees_quote == D("0.585") and pos.fees_by_asset == {"USDT": D("0.585")}
    assert pos.quantity == 0 and pos.cost_basis == 0 and pos.closed
    assert (pos.opened_ms, pos.closed_ms) == (1000, 4000)


def test_base_commission_on_a_buy_reduces_what_is_held() -> None:
    pos = position_from_fills([fill(1, B, "1", "100", "0.001", "BTC")], BTC)
    assert pos.quantity == D("0.999") and pos.cost_basis == D("100")
    assert pos.fees_quote == D("0.1") and pos.fees_by_asset == {"BTC": D("0.001")} and not pos.closed
    closed = position_from_fills([fill(1, B, "1", "100", "0.001", "BTC"), fill(2, S, "0.999", "110", "0.1099")], BTC)
    assert closed.realised_pnl == D("109.89") - D("100") - D("0.1099") and closed.closed


def test_base_commission_on_a_sell_adds_to_what_is_sold() -> None:
    pos = position_from_fills([fill(1, B, "1", "100"), fill(2, S, "0.5", "120", "0.0005", "BTC")], BTC)
    assert pos.quantity == D("0.4995") and pos.cost_basis == D("49.95")
    assert pos.realised_pnl == D("60") - D("50.05")


def test_bnb_commission_with_a_price_is_converted_into_the_pnl() -> None:
    fills = [fill(1, B, "1", "100", "0.01", "BNB"), fill(2, S, "1", "110", "0.01", "BNB")]
    pos = position_from_fills(fills, BTC, {"BNB": D("500")})
    assert pos.realised_pnl == D("0") and pos.fees_quote == D("10") and pos.fees_other == {}
    assert pos.fees_by_asset == {"BNB": D("0.02")}


def test_bnb_commission_without_a_price_is_kept_in_fees_other_not_dropped() -> None:
    fills = [fill(1, B, "1", "100", "0.01", "BNB"), fill(2, S, "1", "110", "0.01", "BNB")]
    pos = position_from_fills(fills, BTC)
    assert pos.realised_pnl == D("10") and pos.fees_quote == 0
    assert pos.fees_other == {"BNB": D("0.02")} and pos.fees_by_asset == {"BNB": D("0.02")}


def _report(
    order_id: int, side: Side, status: OrderStatus, t: int, cum: str, trade: tuple[int, str, str] | None
) -> ExecutionReport:
    trade_id, qty, price = trade if trade else (-1, "0", "0")
    return ExecutionReport(
        symbol="BTCUSDT",
        client_order_id=f"e70-{order_id}",
        original_client_order_id="",
        side=side,
        type=OrderType.LIMIT if side is B else OrderType.STOP_LOSS_LIMIT,
        execution_type="TRADE" if trade else status.value,
        status=status,
        order_id=order_id,
        orig_qty=D("1"),
        price=D("100"),
        stop_price=D("95"),
        last_qty=D(qty),
        last_price=D(price),
        cumulative_qty=D(cum),
        cumulative_quote_qty=D(cum) * D(price or "0"),
        commission=D(0),
        commission_asset=None,
        trade_id=trade_id,
        event_time_ms=t,
        transaction_time_ms=t,
    )


def test_stop_that_fires_after_a_partial_entry_closes_the_position_with_a_loss() -> None:
    reports = [
        _report(1, B, OrderStatus.NEW, 1000, "0", None),
        _report(1, B, OrderStatus.PARTIALLY_FILLED, 2000, "0.4", (11, "0.4", "100")),
        _report(1, B, OrderStatus.CANCELED, 3000, "0.4", None),
        _report(2, S, OrderStatus.NEW, 3100, "0", None),
        _report(2, S, OrderStatus.FILLED, 5000, "0.4", (12, "0.4", "95")),
    ]
    orders = fold_reports(reversed(reports))
    fills = [f for order in orders.values() for f in fills_of_order(order, "e70")]
    entry_only = position_from_fills(fills_of_order(orders[("BTCUSDT", 1)], "e70"), BTC)
    assert entry_only.quantity == D("0.4") and not entry_only.closed
    pos = position_from_fills(fills, BTC)
    assert pos.realised_pnl == D("-2") and pos.closed and pos.closed_ms == 5000


def test_manual_close_of_an_edge_position_closes_it() -> None:
    fills = [fill(1, B, "1", "100"), fill(2, S, "1", "105", order_id=99)]  # order 99: sold by hand on the exchange
    pos = position_from_fills(fills, BTC)
    assert pos.closed and pos.realised_pnl == D("5") and pos.key("acct") == PositionKey("acct", "BTC", "e70")


def test_manual_position_has_no_edge_and_refuses_edge_fills() -> None:
    state = apply_fill(new_position_state(BTC), fill(1, B, "1", "100", edge=None))
    assert state.position.edge is None and state.position.key("a") == PositionKey("a", "BTC", None)
    with pytest.raises(FillConflict):
        apply_fill(state, fill(2, S, "1", "100", edge="e70"))
    with pytest.raises(FillConflict):
        position_from_fills([fill(1, B, "1", "100", edge=None), fill(2, S, "1", "100")], BTC)


def test_sell_on_an_unknown_position_is_unmatched_and_not_counted_as_pnl() -> None:
    pos = position_from_fills([fill(1, S, "1", "100", "0.1")], BTC)
    assert pos.quantity == 0 and pos.realised_pnl == D("-0.1")  # only the fee is a known cost
    assert pos.unmatched_sell_qty == D("1") and pos.unmatched_proceeds == D("100")
    assert pos.closed and pos.opened_ms is None and pos.closed_ms is None


def test_selling_more_than_held_matches_only_what_was_held() -> None:
    pos = position_from_fills([fill(1, B, "1", "100"), fill(2, S, "2", "110")], BTC)
    assert pos.realised_pnl == D("10") and pos.unmatched_sell_qty == D("1") and pos.unmatched_proceeds == D("110")


def test_remainder_below_lot_size_min_marks_the_position_closed() -> None:
    lot = replace(BTC, min_qty=D("0.001"), step_size=D("0.001"), min_notional=D(0))
    pos = position_from_fills([fill(1, B, "1", "100", "0.0005", "BTC"), fill(2, S, "0.999", "100")], lot)
    assert pos.quantity == D("0.0005") and pos.closed and pos.closed_ms == 2000


def test_remainder_below_min_notional_at_the_last_price_marks_the_position_closed() -> None:
    pos = position_from_fills([fill(1, B, "1", "100"), fill(2, S, "0.99", "100")], BTC)
    assert pos.quantity == D("0.01") and pos.closed  # 0.01 * 100 = 1 < 5


def test_buy_after_a_close_reopens_the_position() -> None:
    pos = position_from_fills([fill(1, B, "1", "100"), fill(2, S, "1", "100"), fill(3, B, "2", "50")], BTC)
    assert not pos.closed and (pos.opened_ms, pos.closed_ms) == (3000, None)


def test_unrealised_pnl_is_mark_value_minus_cost_basis() -> None:
    pos = position_from_fills([fill(1, B, "2", "100", "0.2")], BTC)
    assert unrealised_pnl(pos, D("110")) == D("220") - D("200.2")
    assert unrealised_pnl(position_from_fills([], BTC), D("110")) == 0


def test_incremental_out_of_order_fill_gives_the_same_position_as_the_batch() -> None:
    fills = [fill(1, B, "1", "100"), fill(2, B, "1", "120", "0.001", "BTC"), fill(3, S, "0.5", "130", "0.05")]
    state = new_position_state(BTC, edge="e70")
    for f in (fills[2], fills[0], fills[1], fills[0]):
        state = apply_fill(state, f)
    assert state.position == position_from_fills(fills, BTC)


def test_same_trade_id_with_different_content_is_refused() -> None:
    with pytest.raises(FillConflict):
        position_from_fills([fill(1, B, "1", "100"), fill(1, B, "1", "101")], BTC)


def test_my_trades_row_becomes_a_position_fill() -> None:
    row = TradeRecord("BTCUSDT", 5, 9, D("100"), D("1"), D("100"), D("0.1"), "USDT", 1234, is_buyer=False)
    assert fill_from_trade(row, "e70") == fill(5, S, "1", "100", "0.1", t=1234, order_id=9)


def test_each_holding_period_has_its_own_realised_pnl_and_cost() -> None:
    first = [fill(1, B, "1", "100", "0.1"), fill(2, S, "1", "150", "0.15")]
    second = [fill(3, B, "0.5", "200", "0.1"), fill(4, B, "0.5", "220", "0.11"), fill(5, S, "1", "190", "0.19")]
    after_first = position_from_fills(first, BTC)
    assert after_first.closed
    assert after_first.period_realised_pnl == D("150") - D("100.1") - D("0.15") == after_first.realised_pnl
    assert after_first.period_cost == D("100.1")
    mid = position_from_fills([*first, *second[:2]], BTC)
    assert not mid.closed and mid.period_realised_pnl == 0 and mid.period_cost == D("100.1") + D("110.11")
    pos = position_from_fills([*first, *second], BTC)
    assert pos.period_cost == D("210.21")
    assert pos.period_realised_pnl == D("190") - D("210.21") - D("0.19")
    assert pos.realised_pnl == after_first.realised_pnl + pos.period_realised_pnl
    assert (pos.opened_ms, pos.closed_ms) == (3000, 5000)


def test_a_new_period_carries_the_cost_of_dust_left_by_the_last_one() -> None:
    fills = [fill(1, B, "1", "100"), fill(2, S, "0.99995", "100"), fill(3, B, "1", "100"), fill(4, S, "1", "110")]
    after_close = position_from_fills(fills[:2], BTC)
    assert after_close.closed and after_close.quantity == D("0.00005")  # dust: below minQty
    pos = position_from_fills(fills, BTC)
    assert pos.period_cost == D("100") + D("0.005")
    assert pos.period_realised_pnl == D("110") - D("100.005") / D("1.00005")  # average cost of 1 of 1.00005 held


def test_fold_fill_is_one_step_of_the_canonical_fold_and_refuses_a_late_fill() -> None:
    from binance_tool.tracking import empty_position, fold_fill, follows

    fills = [fill(1, B, "1", "100", "0.1"), fill(2, B, "1", "200", "0.2"), fill(3, S, "0.5", "300", "0.15")]
    pos = empty_position(BTC)
    for f in fills:
        assert follows(pos, f)
        pos = fold_fill(pos, f, BTC)
    assert pos == position_from_fills(fills, BTC)
    late = fill(0, B, "1", "50", t=500)
    assert not follows(pos, late)
    with pytest.raises(ValueError, match="refold"):
        fold_fill(pos, late, BTC)
    with pytest.raises(FillConflict):
        fold_fill(pos, fill(4, B, "1", "1", edge="other"), BTC)
