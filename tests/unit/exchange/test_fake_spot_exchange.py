"""FakeSpotExchange's market controls (what the contract tests cannot drive on the simulator): price moves fill
resting limits and trigger stops, partial fills, time in force, client-id reuse, the user stream's gaps, faults."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from binance_tool.exchange.execution import (
    AccountPosition,
    ExchangeUnavailable,
    ExecutionReport,
    OrderOutcome,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
    UserEvent,
)
from binance_tool.exchange.execution_support import resolve_unknown
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.trading.filters import SymbolFilters

D = Decimal
BTC = SymbolFilters(
    "BTCUSDT", tick_size=D("0.01"), min_price=D("0.01"), step_size=D("0.0001"), min_qty=D("0.0001"), min_notional=D(10)
)


def fake(**kw: object) -> FakeSpotExchange:
    kw = {"balances": {"USDT": 10_000, "BTC": 1}, "prices": {"BTCUSDT": 100}, "now_ms": 1_000} | kw
    return FakeSpotExchange([BTC], **kw)  # type: ignore[arg-type]


def limit(side: Side, qty: str, price: str, cid: str = "o1", tif: TimeInForce | None = None) -> OrderRequest:
    return OrderRequest("BTCUSDT", side, OrderType.LIMIT, D(qty), cid, price=D(price), time_in_force=tif)


def stop(side: Side, qty: str, stop_price: str, price: str, cid: str = "s1") -> OrderRequest:
    return OrderRequest(
        "BTCUSDT", side, OrderType.STOP_LOSS_LIMIT, D(qty), cid, price=D(price), stop_price=D(stop_price)
    )


async def collect(ex: FakeSpotExchange) -> tuple[list[UserEvent], asyncio.Task[None]]:
    events: list[UserEvent] = []
    stream = ex.user_events()

    async def run() -> None:
        async for e in stream:
            events.append(e)

    task = asyncio.create_task(run())
    await asyncio.sleep(0)
    return events, task


async def test_a_resting_limit_buy_fills_at_its_price_when_the_market_falls_to_it():
    ex = fake()
    await ex.place_order(limit(Side.BUY, "1", "90"))
    ex.set_price("BTCUSDT", D("90.01"))
    assert (await ex.get_order("BTCUSDT", "o1")).status is OrderStatus.NEW
    ex.set_price("BTCUSDT", D("85"))  # traded through: a resting maker order fills at its limit
    order = await ex.get_order("BTCUSDT", "o1")
    assert (order.status, order.executed_qty, order.cummulative_quote_qty) == (OrderStatus.FILLED, 1, 90)
    b = await ex.balances()
    assert (b["USDT"].free, b["USDT"].locked, b["BTC"].free) == (D(9910), 0, D("1.999"))
    (trade,) = await ex.my_trades("BTCUSDT")
    assert (trade.price, trade.commission, trade.commission_asset, trade.is_buyer) == (90, D("0.001"), "BTC", True)


async def test_a_marketable_limit_buy_fills_at_the_market_and_releases_the_price_improvement():
    ex = fake()
    result = await ex.place_order(limit(Side.BUY, "1", "120"))
    assert result.order.status is OrderStatus.FILLED and result.order.fills[0].price == 100
    b = await ex.balances()
    assert (b["USDT"].free, b["USDT"].locked) == (D(9900), 0)


async def test_a_stop_loss_limit_sell_triggers_at_its_stop_and_fills_as_taker_at_the_market():
    ex = fake()
    await ex.place_order(stop(Side.SELL, "0.5", "95", "94"))
    ex.set_price("BTCUSDT", D("95.5"))
    assert (await ex.get_order("BTCUSDT", "s1")).status is OrderStatus.NEW
    ex.set_price("BTCUSDT", D("94.5"))
    order = await ex.get_order("BTCUSDT", "s1")
    assert (order.status, order.cummulative_quote_qty) == (OrderStatus.FILLED, D("47.25"))
    b = await ex.balances()
    assert (b["BTC"].free, b["BTC"].locked, b["USDT"].free) == (D("0.5"), 0, D(10_000) + D("47.25") - D("0.04725"))


async def test_a_stop_that_gaps_below_its_limit_rests_until_the_market_comes_back():
    ex = fake()
    await ex.place_order(stop(Side.SELL, "0.5", "95", "94"))
    ex.set_price("BTCUSDT", D("90"))
    assert (await ex.get_order("BTCUSDT", "s1")).status is OrderStatus.NEW  # triggered, working at 94
    ex.set_price("BTCUSDT", D("96"))
    order = await ex.get_order("BTCUSDT", "s1")
    assert (order.status, order.cummulative_quote_qty) == (OrderStatus.FILLED, D(47))  # maker at its limit


async def test_a_stop_buy_triggers_when_the_market_rises_to_it():
    ex = fake()
    await ex.place_order(stop(Side.BUY, "0.5", "105", "106"))
    ex.set_price("BTCUSDT", D("105"))
    assert (await ex.get_order("BTCUSDT", "s1")).status is OrderStatus.FILLED


async def test_partial_fills_report_each_trade_and_a_cancel_releases_the_rest():
    ex = fake()
    events, task = await collect(ex)
    await ex.place_order(limit(Side.BUY, "1", "90"))
    ex.fill("BTCUSDT", "o1", D("0.4"))
    assert (await ex.get_order("BTCUSDT", "o1")).status is OrderStatus.PARTIALLY_FILLED
    result = await ex.cancel_order("BTCUSDT", "o1")
    assert result.order.executed_qty == D("0.4") and result.order.status is OrderStatus.CANCELED
    b = await ex.balances()
    assert (b["USDT"].free, b["USDT"].locked, b["BTC"].free) == (D(10_000) - D(36), 0, D("1.3996"))
    await asyncio.sleep(0)
    reports = [e for e in events if isinstance(e, ExecutionReport)]
    assert [(r.execution_type, r.status, r.last_qty) for r in reports] == [
        ("NEW", OrderStatus.NEW, 0),
        ("TRADE", OrderStatus.PARTIALLY_FILLED, D("0.4")),
        ("CANCELED", OrderStatus.CANCELED, 0),
    ]
    assert reports[-1].client_order_id != "o1" and reports[-1].original_client_order_id == "o1"
    assert isinstance(events[-1], AccountPosition)
    await ex.close()
    await task


@pytest.mark.parametrize("tif", [TimeInForce.IOC, TimeInForce.FOK])
async def test_an_ioc_or_fok_limit_that_cannot_fill_at_once_expires(tif: TimeInForce):
    ex = fake()
    result = await ex.place_order(limit(Side.BUY, "1", "90", tif=tif))
    assert result.order.status is OrderStatus.EXPIRED
    assert (await ex.balances())["USDT"].locked == 0


async def test_a_client_id_can_be_reused_once_its_order_is_closed_and_queries_answer_the_latest():
    ex = fake()
    first = await ex.place_order(limit(Side.BUY, "1", "90"))
    await ex.cancel_order("BTCUSDT", "o1")
    second = await ex.place_order(limit(Side.BUY, "1", "80"))
    assert second.outcome is OrderOutcome.ACCEPTED and second.order.order_id != first.order.order_id
    assert (await ex.get_order("BTCUSDT", "o1")).order_id == second.order.order_id


async def test_a_market_order_below_the_minimum_notional_is_rejected_by_the_exchange_with_1013():
    ex = fake()
    result = await ex.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, D("0.05"), "m1"))
    assert (result.outcome, result.code, result.reason) == (OrderOutcome.REJECTED, -1013, "Filter failure: NOTIONAL")


async def test_an_unknown_outcome_that_did_not_place_resolves_to_not_placed():
    ex = fake()
    ex.fail_next_with_unknown(placed=False)
    assert (await ex.place_order(limit(Side.BUY, "1", "90"))).outcome is OrderOutcome.UNKNOWN
    resolved = await resolve_unknown(ex, "BTCUSDT", "o1", attempts=2, delay_s=0)
    assert (resolved.outcome, resolved.reason) == (OrderOutcome.REJECTED, "not placed")


async def test_resolve_unknown_stays_unknown_while_the_exchange_cannot_be_asked():
    ex = fake()
    ex.unavailable_next(3)
    resolved = await resolve_unknown(ex, "BTCUSDT", "o1", attempts=3, delay_s=0)
    assert resolved.outcome is OrderOutcome.UNKNOWN


async def test_a_ban_denies_orders_and_fails_reads_until_it_ends():
    ex = fake()
    ex.ban(60)
    result = await ex.place_order(limit(Side.BUY, "1", "90"))
    assert (result.outcome, result.rate_limited, result.retry_after_s) == (OrderOutcome.DENIED, True, 60)
    with pytest.raises(ExchangeUnavailable):
        await ex.balances()
    ex.advance(60_000)
    assert (await ex.place_order(limit(Side.BUY, "1", "90"))).outcome is OrderOutcome.ACCEPTED


async def test_a_dropped_user_stream_loses_events_and_calls_the_gap_handler_before_the_next():
    gaps: list[int] = []

    async def on_gap() -> None:
        gaps.append(len(events))

    ex = fake(on_stream_gap=on_gap)
    events, task = await collect(ex)
    ex.drop_user_stream(restore=False)
    await ex.place_order(limit(Side.BUY, "1", "90"))  # lost
    ex.restore_user_stream()
    await ex.place_order(limit(Side.BUY, "1", "80", cid="o2"))
    await asyncio.sleep(0.01)
    reports = [e for e in events if isinstance(e, ExecutionReport)]
    assert [r.client_order_id for r in reports] == ["o2"] and gaps == [0]
    await ex.close()
    await task


async def test_calls_are_recorded_for_assertions():
    ex = fake()
    await ex.place_order(limit(Side.BUY, "1", "90"))
    await ex.open_orders()
    assert [name for name, _ in ex.calls] == ["place_order", "open_orders"]
