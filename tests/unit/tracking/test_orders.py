"""The order state machine: it only moves forward, and duplicates or late reports change nothing."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from binance_tool.exchange.execution import ExecutionReport, OrderStatus, OrderType, Side
from binance_tool.tracking import ConflictingReport, OrderFill, apply_order_fill, apply_report, fold_reports

D = Decimal


def report(
    status: OrderStatus,
    t: int,
    cum: str = "0",
    *,
    execution_type: str = "NEW",
    trade_id: int = -1,
    last_qty: str = "0",
    last_price: str = "0",
    cum_quote: str | None = None,
    commission: str = "0",
    commission_asset: str | None = None,
    order_id: int = 7,
    client_order_id: str = "e70-entry-abc",
    original_client_order_id: str = "",
) -> ExecutionReport:
    return ExecutionReport(
        symbol="BTCUSDT",
        client_order_id=client_order_id,
        original_client_order_id=original_client_order_id,
        side=Side.BUY,
        type=OrderType.LIMIT,
        execution_type=execution_type,
        status=status,
        order_id=order_id,
        orig_qty=D("1"),
        price=D("100"),
        stop_price=D(0),
        last_qty=D(last_qty),
        last_price=D(last_price),
        cumulative_qty=D(cum),
        cumulative_quote_qty=D(cum_quote) if cum_quote is not None else D(cum) * 100,
        commission=D(commission),
        commission_asset=commission_asset,
        trade_id=trade_id,
        event_time_ms=t + 1,
        transaction_time_ms=t,
    )


NEW = report(OrderStatus.NEW, 1000)
PART = report(
    OrderStatus.PARTIALLY_FILLED, 2000, "0.4", execution_type="TRADE", trade_id=11, last_qty="0.4", last_price="100"
)
FILLED = report(OrderStatus.FILLED, 3000, "1", execution_type="TRADE", trade_id=12, last_qty="0.6", last_price="100")


def test_new_report_creates_an_open_order_with_no_fills() -> None:
    order = apply_report(None, NEW)
    assert order.status is OrderStatus.NEW and order.is_open
    assert order.executed_qty == 0 and order.fills == () and order.average_price is None


def test_partial_then_full_fill_collects_both_fills_and_quantities() -> None:
    order = fold_reports([NEW, PART, FILLED])[("BTCUSDT", 7)]
    assert order.status is OrderStatus.FILLED and order.is_terminal
    assert order.executed_qty == D("1") and order.cumulative_quote_qty == D("100")
    assert [f.trade_id for f in order.fills] == [11, 12]
    assert order.filled_qty_from_fills == D("1") and not order.missing_fills
    assert order.average_price == D("100")


def test_late_new_after_filled_does_not_move_the_order_back() -> None:
    filled = fold_reports([NEW, PART, FILLED])[("BTCUSDT", 7)]
    assert apply_report(filled, NEW) is filled


def test_stale_partial_report_keeps_state_but_still_adds_its_fill() -> None:
    filled = apply_report(apply_report(None, NEW), FILLED)
    assert filled.missing_fills  # trade 11 not seen yet
    later = apply_report(filled, PART)
    assert later.status is OrderStatus.FILLED and later.executed_qty == D("1")
    assert [f.trade_id for f in later.fills] == [11, 12] and not later.missing_fills


def test_duplicate_report_changes_nothing() -> None:
    order = fold_reports([NEW, PART])[("BTCUSDT", 7)]
    assert apply_report(order, PART) is order


def test_cumulative_quantity_never_decreases_at_the_same_transaction_time() -> None:
    more = report(OrderStatus.PARTIALLY_FILLED, 2000, "0.7", execution_type="TRADE", trade_id=13, last_qty="0.3")
    order = apply_report(apply_report(None, more), PART)
    assert order.executed_qty == D("0.7") and len(order.fills) == 2


def test_cancel_after_partial_fill_is_terminal_and_keeps_the_order_s_own_client_id() -> None:
    cancel = report(
        OrderStatus.CANCELED,
        2500,
        "0.4",
        execution_type="CANCELED",
        client_order_id="cancel-req-1",
        original_client_order_id="e70-entry-abc",
    )
    order = fold_reports([cancel, PART, NEW])[("BTCUSDT", 7)]
    assert order.status is OrderStatus.CANCELED and order.executed_qty == D("0.4")
    assert order.client_order_id == "e70-entry-abc"
    assert apply_report(order, PART) is order


def test_report_of_another_order_is_refused() -> None:
    with pytest.raises(ConflictingReport):
        apply_report(apply_report(None, NEW), report(OrderStatus.NEW, 1000, order_id=8))


def test_same_trade_id_with_different_content_is_refused() -> None:
    order = apply_report(None, PART)
    with pytest.raises(ConflictingReport):
        apply_report(order, replace(PART, last_price=D("101")))


def test_backfilled_fill_is_added_once() -> None:
    order = apply_report(apply_report(None, NEW), FILLED)
    fill = OrderFill(11, D("100"), D("0.4"), D(0), "", 2000)
    once = apply_order_fill(order, fill)
    assert apply_order_fill(once, fill) is once and once.fills == apply_report(order, PART).fills
