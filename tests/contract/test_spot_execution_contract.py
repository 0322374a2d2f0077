"""The execution contract: the same tests against `FakeSpotExchange` and against `BinanceSpot` on the exchange
simulator.  What the Trade Abstraction Service relies on: the four outcomes, Binance's codes, order queries by
client order id, fills with commission, the user data stream, and the resolution of an unknown outcome."""

from __future__ import annotations

from decimal import Decimal

import pytest

from binance_tool.exchange.execution import (
    AccountPosition,
    ExecutionReport,
    OrderOutcome,
    OrderRequest,
    OrderStatus,
    OrderType,
    Side,
)
from binance_tool.exchange.execution_support import ExchangeRequestError, resolve_unknown

from .conftest import FEE_RATE, FUNDS, OTHER, SYMBOL, Venue, new_id

D = Decimal


async def price_of(venue: Venue, symbol: str = SYMBOL) -> Decimal:
    return (await venue.exchange.prices([symbol]))[symbol]


async def resting_buy(venue: Venue, qty: str = "0.001", cid: str | None = None) -> OrderRequest:
    """A LIMIT BUY at half the market price (on the tick grid): it rests."""
    price = (await price_of(venue) / 2).quantize(D("0.01"))
    return OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, D(qty), cid or new_id(), price=price)


# --- reference data -------------------------------------------------------------------------------------------
async def test_symbol_filters_come_from_exchange_info(venue: Venue):
    filters = await venue.exchange.symbol_filters([SYMBOL])
    assert list(filters) == [SYMBOL]
    f = filters[SYMBOL]
    assert (f.tick_size, f.step_size, f.min_qty, f.min_notional) == (D("0.01"), D("0.000001"), D("0.000001"), D(10))
    assert (f.base_asset, f.quote_asset) == ("BTC", "USDT")
    assert set(await venue.exchange.symbol_filters()) >= {SYMBOL, OTHER}


async def test_prices_are_decimals_per_symbol_and_an_unknown_symbol_is_an_error(venue: Venue):
    prices = await venue.exchange.prices([SYMBOL, OTHER])
    assert set(prices) == {SYMBOL, OTHER}
    assert all(isinstance(p, Decimal) and p > 0 for p in prices.values())
    assert (await venue.exchange.prices())[SYMBOL] == prices[SYMBOL]
    with pytest.raises(ExchangeRequestError) as err:
        await venue.exchange.prices(["NOPEUSDT"])
    assert err.value.code == -1121


async def test_balances_show_the_funded_assets(venue: Venue):
    balances = await venue.exchange.balances()
    assert {a: b.free for a, b in balances.items()} == FUNDS
    assert all(b.locked == 0 for b in balances.values())


# --- placing, querying, cancelling ----------------------------------------------------------------------------
async def test_a_limit_buy_below_the_market_rests_open_and_locks_its_quote(venue: Venue):
    request = await resting_buy(venue)
    result = await venue.exchange.place_order(request)
    assert result.outcome is OrderOutcome.ACCEPTED
    order = result.order
    assert order is not None and order.status is OrderStatus.NEW and order.order_id > 0
    assert (order.client_order_id, order.orig_qty, order.price, order.executed_qty) == (
        request.client_order_id,
        request.quantity,
        request.price,
        0,
    )
    assert [o.client_order_id for o in await venue.exchange.open_orders(SYMBOL)] == [request.client_order_id]
    assert [o.client_order_id for o in await venue.exchange.open_orders()] == [request.client_order_id]
    usdt = (await venue.exchange.balances())["USDT"]
    assert usdt.locked == request.quantity * request.price
    assert usdt.free == FUNDS["USDT"] - usdt.locked


async def test_get_order_finds_an_order_by_client_id_and_answers_none_for_an_unknown_id(venue: Venue):
    request = await resting_buy(venue)
    placed = (await venue.exchange.place_order(request)).order
    found = await venue.exchange.get_order(SYMBOL, request.client_order_id)
    assert found is not None
    assert (found.order_id, found.status, found.side, found.type) == (
        placed.order_id,
        OrderStatus.NEW,
        Side.BUY,
        OrderType.LIMIT,
    )
    assert await venue.exchange.get_order(SYMBOL, new_id()) is None


async def test_cancelling_an_open_order_is_accepted_and_releases_the_locked_funds(venue: Venue):
    request = await resting_buy(venue)
    await venue.exchange.place_order(request)
    result = await venue.exchange.cancel_order(SYMBOL, request.client_order_id)
    assert result.outcome is OrderOutcome.ACCEPTED
    assert result.order is not None and result.order.status is OrderStatus.CANCELED
    assert result.order.client_order_id == request.client_order_id
    assert await venue.exchange.open_orders(SYMBOL) == []
    assert (await venue.exchange.get_order(SYMBOL, request.client_order_id)).status is OrderStatus.CANCELED
    usdt = (await venue.exchange.balances())["USDT"]
    assert (usdt.free, usdt.locked) == (FUNDS["USDT"], 0)


async def test_cancelling_an_unknown_order_is_rejected_with_2011(venue: Venue):
    result = await venue.exchange.cancel_order(SYMBOL, new_id())
    assert (result.outcome, result.code) == (OrderOutcome.REJECTED, -2011)


async def test_a_second_order_with_the_client_id_of_an_open_order_is_rejected_with_2010(venue: Venue):
    request = await resting_buy(venue)
    first = await venue.exchange.place_order(request)
    again = await venue.exchange.place_order(request)
    assert (again.outcome, again.code, again.reason) == (OrderOutcome.REJECTED, -2010, "Duplicate order sent.")
    orders = await venue.exchange.open_orders(SYMBOL)
    assert [o.order_id for o in orders] == [first.order.order_id]


async def test_an_order_beyond_the_free_balance_is_rejected_with_2010(venue: Venue):
    request = await resting_buy(venue, qty="100")  # ~2.2M USDT at half the price
    result = await venue.exchange.place_order(request)
    assert (result.outcome, result.code) == (OrderOutcome.REJECTED, -2010)
    assert "insufficient balance" in result.reason
    assert await venue.exchange.open_orders(SYMBOL) == []


@pytest.mark.parametrize(
    ("qty", "price_factor", "filter_name"),
    [
        ("0.0000015", "0.5", "LOT_SIZE"),  # not a multiple of stepSize 0.000001
        ("0.001", "0.50001", "PRICE_FILTER"),  # off the 0.01 tick (rounded below)
        ("0.0001", "0.5", "NOTIONAL"),  # ~2.25 USDT < minNotional 10
    ],
)
async def test_an_order_breaking_a_filter_is_denied_with_1013_and_not_sent(
    venue: Venue, qty: str, price_factor: str, filter_name: str
):
    price = (await price_of(venue) * D(price_factor)).quantize(D("0.01"))
    if filter_name == "PRICE_FILTER":
        price += D("0.005")
    request = OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, D(qty), new_id(), price=price)
    result = await venue.exchange.place_order(request)
    assert (result.outcome, result.code) == (OrderOutcome.DENIED, -1013)
    assert result.reason.startswith(f"Filter failure: {filter_name}")
    assert await venue.exchange.get_order(SYMBOL, request.client_order_id) is None


async def test_malformed_orders_are_denied_with_binance_codes(venue: Venue):
    no_price = OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, D("0.001"), new_id())
    assert ((r := await venue.exchange.place_order(no_price)).outcome, r.code) == (OrderOutcome.DENIED, -1102)
    bad_id = OrderRequest(SYMBOL, Side.BUY, OrderType.MARKET, D("0.001"), "not ok!")
    assert ((r := await venue.exchange.place_order(bad_id)).outcome, r.code) == (OrderOutcome.DENIED, -1100)
    unknown = OrderRequest("NOPEUSDT", Side.BUY, OrderType.MARKET, D("1"), new_id())
    assert ((r := await venue.exchange.place_order(unknown)).outcome, r.code) == (OrderOutcome.DENIED, -1121)


# --- fills ----------------------------------------------------------------------------------------------------
async def test_a_market_buy_fills_at_once_with_its_fills_and_commission_in_the_base_asset(venue: Venue):
    request = OrderRequest(SYMBOL, Side.BUY, OrderType.MARKET, D("0.01"), new_id())
    result = await venue.exchange.place_order(request)
    assert result.outcome is OrderOutcome.ACCEPTED
    order = result.order
    assert order is not None and order.status is OrderStatus.FILLED and order.executed_qty == D("0.01")
    assert order.fills and sum(f.quantity for f in order.fills) == D("0.01")
    assert sum(f.price * f.quantity for f in order.fills) == order.cummulative_quote_qty
    assert all(f.commission_asset == "BTC" and f.commission == f.quantity * FEE_RATE for f in order.fills)
    trades = await venue.exchange.my_trades(SYMBOL)
    assert [(t.order_id, t.is_buyer) for t in trades] == [(order.order_id, True)] * len(order.fills)
    assert sum(t.quantity for t in trades) == D("0.01")
    assert [o.order_id for o in await venue.exchange.all_orders(SYMBOL)] == [order.order_id]
    balances = await venue.exchange.balances()
    assert balances["BTC"].free == FUNDS["BTC"] + D("0.01") - D("0.01") * FEE_RATE
    assert balances["USDT"].free == FUNDS["USDT"] - order.cummulative_quote_qty


async def test_a_market_sell_pays_commission_in_the_quote_asset(venue: Venue):
    result = await venue.exchange.place_order(OrderRequest(SYMBOL, Side.SELL, OrderType.MARKET, D("0.01"), new_id()))
    order = result.order
    assert result.outcome is OrderOutcome.ACCEPTED and order is not None and order.status is OrderStatus.FILLED
    assert all(f.commission_asset == "USDT" for f in order.fills)
    fees = sum(f.commission for f in order.fills)
    assert fees == (order.cummulative_quote_qty * FEE_RATE).quantize(D("0.00000001"))
    balances = await venue.exchange.balances()
    assert balances["USDT"].free == FUNDS["USDT"] + order.cummulative_quote_qty - fees
    assert balances["BTC"].free == FUNDS["BTC"] - D("0.01")


async def test_all_orders_and_my_trades_from_an_id_list_from_that_id(venue: Venue):
    ids = []
    for _ in range(3):
        r = await venue.exchange.place_order(OrderRequest(SYMBOL, Side.BUY, OrderType.MARKET, D("0.001"), new_id()))
        ids.append(r.order.order_id)
    assert [o.order_id for o in await venue.exchange.all_orders(SYMBOL, from_order_id=ids[1])] == ids[1:]
    trades = await venue.exchange.my_trades(SYMBOL)
    later = await venue.exchange.my_trades(SYMBOL, from_trade_id=trades[1].trade_id)
    assert [t.trade_id for t in later] == [t.trade_id for t in trades[1:]]
    assert await venue.exchange.all_orders(OTHER) == []


# --- stops ----------------------------------------------------------------------------------------------------
async def test_a_stop_loss_limit_sell_below_the_market_rests_with_its_stop_and_locks_the_base(venue: Venue):
    price = await price_of(venue)
    stop, limit = (price * D("0.9")).quantize(D("0.01")), (price * D("0.89")).quantize(D("0.01"))
    request = OrderRequest(
        SYMBOL, Side.SELL, OrderType.STOP_LOSS_LIMIT, D("0.01"), new_id("stop"), price=limit, stop_price=stop
    )
    result = await venue.exchange.place_order(request)
    assert result.outcome is OrderOutcome.ACCEPTED
    order = await venue.exchange.get_order(SYMBOL, request.client_order_id)
    assert (order.status, order.type, order.stop_price, order.price) == (
        OrderStatus.NEW,
        OrderType.STOP_LOSS_LIMIT,
        stop,
        limit,
    )
    assert (await venue.exchange.balances())["BTC"].locked == D("0.01")


async def test_a_stop_that_would_trigger_immediately_is_rejected_with_2010(venue: Venue):
    price = await price_of(venue)
    stop = (price * D("1.1")).quantize(D("0.01"))  # a SELL stop above the market triggers at once
    request = OrderRequest(
        SYMBOL, Side.SELL, OrderType.STOP_LOSS_LIMIT, D("0.01"), new_id("stop"), price=stop, stop_price=stop
    )
    result = await venue.exchange.place_order(request)
    assert (result.outcome, result.code, result.reason) == (
        OrderOutcome.REJECTED,
        -2010,
        "Order would trigger immediately.",
    )


# --- the user data stream -------------------------------------------------------------------------------------
async def test_the_user_stream_reports_new_trade_and_cancel_with_account_positions(venue: Venue):
    await venue.start_stream()
    resting = await resting_buy(venue)
    await venue.exchange.place_order(resting)
    market = OrderRequest(SYMBOL, Side.BUY, OrderType.MARKET, D("0.001"), new_id())
    filled = (await venue.exchange.place_order(market)).order
    await venue.exchange.cancel_order(SYMBOL, resting.client_order_id)

    def reports(events: list) -> list[ExecutionReport]:
        return [e for e in events if isinstance(e, ExecutionReport)]

    await venue.wait_events(lambda ev: any(r.execution_type == "CANCELED" for r in reports(ev)))
    seen = [(r.execution_type, r.status) for r in reports(venue.events)]
    assert seen[0] == ("NEW", OrderStatus.NEW)
    assert ("TRADE", OrderStatus.FILLED) in seen and seen[-1] == ("CANCELED", OrderStatus.CANCELED)
    trade = next(r for r in reports(venue.events) if r.execution_type == "TRADE")
    assert (trade.order_id, trade.client_order_id, trade.commission_asset) == (
        filled.order_id,
        market.client_order_id,
        "BTC",
    )
    assert trade.last_qty == trade.cumulative_qty == D("0.001") and trade.trade_id > 0
    cancel = reports(venue.events)[-1]
    assert cancel.original_client_order_id == resting.client_order_id
    positions = [e for e in venue.events if isinstance(e, AccountPosition)]
    assert positions and {b.asset for p in positions for b in p.balances} >= {"BTC", "USDT"}
    await venue.wait_events(lambda ev: isinstance(ev[-1], AccountPosition))
    last_usdt = [b for p in positions for b in p.balances if b.asset == "USDT"][-1]
    assert last_usdt == (await venue.exchange.balances())["USDT"]


# --- unknown outcomes and rate limits -------------------------------------------------------------------------
async def test_a_lost_reply_is_unknown_and_resolving_it_finds_the_placed_order(venue: Venue):
    request = await resting_buy(venue)
    await venue.lose_next_reply()
    result = await venue.exchange.place_order(request)
    assert result.outcome is OrderOutcome.UNKNOWN
    resolved = await resolve_unknown(venue.exchange, SYMBOL, request.client_order_id, attempts=3, delay_s=0.1)
    assert resolved.outcome is OrderOutcome.ACCEPTED
    assert resolved.order.client_order_id == request.client_order_id and resolved.order.status is OrderStatus.NEW


async def test_resolving_an_id_that_was_never_placed_says_not_placed(venue: Venue):
    resolved = await resolve_unknown(venue.exchange, SYMBOL, new_id(), attempts=2, delay_s=0.05)
    assert (resolved.outcome, resolved.reason, resolved.code) == (OrderOutcome.REJECTED, "not placed", -2013)


async def test_an_order_refused_by_rate_limits_past_the_retries_is_rejected_with_retry_after(venue: Venue):
    request = await resting_buy(venue)
    await venue.exhaust_rate_limit(1)
    result = await venue.exchange.place_order(request)
    assert (result.outcome, result.rate_limited, result.retry_after_s) == (OrderOutcome.REJECTED, True, 1)
    assert await venue.exchange.get_order(SYMBOL, request.client_order_id) is None
