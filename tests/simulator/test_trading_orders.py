"""Order endpoints with the real python-binance AsyncClient: placement (MARKET / LIMIT / STOP_LOSS_LIMIT, response
types), balances locked and released, commission, every rejection code, query / cancel by client id, and the
history endpoints' paging.  TESTUSDT: last price 100, tick 0.01, step 0.0001, MIN_NOTIONAL 10; USDT=10000, TEST=10."""

from __future__ import annotations

import httpx
import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException


async def balances(client: AsyncClient) -> dict[str, tuple[str, str]]:
    account = await client.get_account()
    return {b["asset"]: (b["free"], b["locked"]) for b in account["balances"]}


async def api_error(call) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as exc:
        await call
    return exc.value


async def test_market_buy_fills_at_the_last_price_with_commission_in_the_base_asset(trader: AsyncClient):
    r = await trader.order_market_buy(symbol="TESTUSDT", quantity="2", newClientOrderId="mkt-1")
    assert (r["status"], r["type"], r["executedQty"], r["cummulativeQuoteQty"]) == (
        "FILLED",
        "MARKET",
        "2.00000000",
        "200.00000000",
    )
    assert r["fills"] == [
        {
            "price": "100.00000000",
            "qty": "2.00000000",
            "commission": "0.00200000",
            "commissionAsset": "TEST",
            "tradeId": 1,
        }
    ]
    assert await balances(trader) == {"TEST": ("11.99800000", "0.00000000"), "USDT": ("9800.00000000", "0.00000000")}


async def test_market_sell_pays_commission_in_the_quote_asset(trader: AsyncClient):
    r = await trader.order_market_sell(symbol="TESTUSDT", quantity="1")
    assert r["fills"][0]["commission"] == "0.10000000" and r["fills"][0]["commissionAsset"] == "USDT"
    assert await balances(trader) == {"TEST": ("9.00000000", "0.00000000"), "USDT": ("10099.90000000", "0.00000000")}


async def test_market_buy_by_quote_order_qty_rounds_the_quantity_down_to_the_step(trader: AsyncClient):
    r = await trader.order_market_buy(symbol="TESTUSDT", quoteOrderQty="50.005")
    assert (r["executedQty"], r["origQuoteOrderQty"]) == ("0.50000000", "50.00500000")


async def test_limit_orders_lock_funds_until_canceled_by_client_id(trader: AsyncClient):
    await trader.order_limit_buy(symbol="TESTUSDT", quantity="1.5", price="90", newClientOrderId="bid-1")
    await trader.order_limit_sell(symbol="TESTUSDT", quantity="2", price="110", newClientOrderId="ask-1")
    assert await balances(trader) == {"TEST": ("8.00000000", "2.00000000"), "USDT": ("9865.00000000", "135.00000000")}
    canceled = await trader.cancel_order(symbol="TESTUSDT", origClientOrderId="bid-1", newClientOrderId="cxl-1")
    assert (canceled["status"], canceled["origClientOrderId"], canceled["clientOrderId"]) == (
        "CANCELED",
        "bid-1",
        "cxl-1",
    )
    assert canceled["orderId"] == 1 and canceled["price"] == "90.00000000"
    assert (await balances(trader))["USDT"] == ("10000.00000000", "0.00000000")
    queried = await trader.get_order(symbol="TESTUSDT", origClientOrderId="bid-1")
    assert (queried["orderId"], queried["status"], queried["time"]) == (1, "CANCELED", queried["updateTime"])
    ask = await trader.get_order(symbol="TESTUSDT", orderId=2)
    assert (ask["clientOrderId"], ask["status"], ask["isWorking"], ask["side"]) == ("ask-1", "NEW", True, "SELL")


async def test_response_types_ack_result_full(trader: AsyncClient):
    ack = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90", newOrderRespType="ACK")
    assert set(ack) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}
    result = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90", newOrderRespType="RESULT")
    assert "fills" not in result and result["status"] == "NEW" and result["workingTime"] == result["transactTime"]
    full = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90")
    assert full["fills"] == [] and full["selfTradePreventionMode"] == "NONE"
    stop = await trader.create_order(
        symbol="TESTUSDT",
        side="SELL",
        type="STOP_LOSS_LIMIT",
        timeInForce="GTC",
        quantity="1",
        price="94",
        stopPrice="95",
    )
    assert set(stop) == set(ack)  # stop orders answer ACK by default
    queried = await trader.get_order(symbol="TESTUSDT", orderId=stop["orderId"])
    assert (queried["stopPrice"], queried["isWorking"], queried["workingTime"]) == ("95.00000000", False, -1)


@pytest.mark.parametrize(
    ("params", "code", "msg"),
    [
        ({"symbol": "NOPEUSDT"}, -1121, "Invalid symbol."),
        ({"quantity": "0.00001"}, -1013, "Filter failure: LOT_SIZE"),
        ({"quantity": "1.00005"}, -1013, "Filter failure: LOT_SIZE"),
        ({"price": "90.001"}, -1013, "Filter failure: PRICE_FILTER"),
        ({"quantity": "0.05"}, -1013, "Filter failure: MIN_NOTIONAL"),
        ({"quantity": "0"}, -1013, "Invalid quantity."),
        ({"price": None}, -1102, "Mandatory parameter 'price' was not sent, was empty/null, or malformed."),
        ({"timeInForce": None}, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."),
        ({"quantity": "1,5"}, -1100, "Illegal characters found in parameter 'quantity'; legal range is "),
        ({"side": "HOLD"}, -1117, "Invalid side."),
        ({"type": "ICEBERG"}, -1116, "Invalid orderType."),
        ({"type": "TAKE_PROFIT_LIMIT"}, -1014, "Unsupported order combination."),
        ({"timeInForce": "GTX"}, -1115, "Invalid timeInForce."),
        ({"stopPrice": "95"}, -1106, "Parameter 'stopPrice' sent when not required."),
        ({"type": "MARKET", "timeInForce": None}, -1106, "Parameter 'price' sent when not required."),
        ({"newClientOrderId": "spaces are bad"}, -1100, "Illegal characters found in parameter 'newClientOrderId'"),
        ({"quantity": "200"}, -2010, "Account has insufficient balance for requested action."),
        ({"side": "SELL", "quantity": "10.5", "price": "110"}, -2010, "Account has insufficient balance"),
        (
            {"side": "SELL", "type": "STOP_LOSS_LIMIT", "stopPrice": "101", "price": "100.5"},
            -2010,
            "Order would trigger immediately.",
        ),
    ],
)
async def test_rejections_are_binances(trader: AsyncClient, params: dict, code: int, msg: str):
    order = {"symbol": "TESTUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "1", "price": "90"}
    order.update(params)
    err = await api_error(trader.create_order(**{k: v for k, v in order.items() if v is not None}))
    assert (err.status_code, err.code) == (400, code)
    assert err.message.startswith(msg)
    assert await trader.get_open_orders() == []


async def test_client_order_id_must_be_unique_among_open_orders_only(trader: AsyncClient):
    await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90", newClientOrderId="edge70-x-entry")
    err = await api_error(
        trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="91", newClientOrderId="edge70-x-entry")
    )
    assert (err.code, err.message) == (-2010, "Duplicate order sent.")
    await trader.cancel_order(symbol="TESTUSDT", origClientOrderId="edge70-x-entry")
    again = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="91", newClientOrderId="edge70-x-entry")
    assert again["orderId"] == 2
    latest = await trader.get_order(symbol="TESTUSDT", origClientOrderId="edge70-x-entry")
    assert (latest["orderId"], latest["status"]) == (2, "NEW")  # the open one of the two


async def test_unknown_orders_cancel_2011_and_query_2013(trader: AsyncClient):
    err = await api_error(trader.cancel_order(symbol="TESTUSDT", orderId=42))
    assert (err.code, err.message) == (-2011, "Unknown order sent.")
    err = await api_error(trader.get_order(symbol="TESTUSDT", origClientOrderId="never-sent"))
    assert (err.code, err.message) == (-2013, "Order does not exist.")
    filled = await trader.order_market_buy(symbol="TESTUSDT", quantity="1")
    err = await api_error(trader.cancel_order(symbol="TESTUSDT", orderId=filled["orderId"]))
    assert err.code == -2011  # a closed order cannot be canceled
    err = await api_error(trader.get_order(symbol="TESTUSDT", orderId=filled["orderId"], origClientOrderId="other"))
    assert err.code == -2013  # both given: they must name the same order
    err = await api_error(trader.get_order(symbol="TESTUSDT"))
    assert (err.code, err.message) == (
        -1102,
        "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
    )


async def test_test_order_validates_without_placing(trader: AsyncClient):
    assert await trader.create_test_order(symbol="TESTUSDT", side="BUY", type="MARKET", quantity="1") == {}
    err = await api_error(trader.create_test_order(symbol="TESTUSDT", side="BUY", type="MARKET", quantity="0.01"))
    assert (err.code, err.message) == (-1013, "Filter failure: MIN_NOTIONAL")
    rates = await trader.create_test_order(
        symbol="TESTUSDT", side="BUY", type="MARKET", quantity="1", computeCommissionRates="true"
    )
    assert rates["standardCommissionForOrder"] == {"maker": "0.00100000", "taker": "0.00100000"}
    assert await trader.get_all_orders(symbol="TESTUSDT") == []


async def test_limit_ioc_fills_at_the_last_price_or_expires(trader: AsyncClient):
    filled = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="101", timeInForce="IOC")
    assert (filled["status"], filled["fills"][0]["price"]) == ("FILLED", "100.00000000")
    expired = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="99", timeInForce="IOC")
    assert (expired["status"], expired["fills"]) == ("EXPIRED", [])
    assert (await balances(trader))["USDT"] == ("9900.00000000", "0.00000000")


async def test_cancel_all_open_orders_of_a_symbol(trader: AsyncClient):
    for price in ("90", "91", "92"):
        await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price=price)
    assert [o["price"] for o in await trader.get_open_orders(symbol="TESTUSDT")] == [
        "90.00000000",
        "91.00000000",
        "92.00000000",
    ]
    canceled = await trader.cancel_all_open_orders(symbol="TESTUSDT")
    assert [(c["orderId"], c["status"]) for c in canceled] == [(1, "CANCELED"), (2, "CANCELED"), (3, "CANCELED")]
    assert await trader.get_open_orders(symbol="TESTUSDT") == []
    assert (await balances(trader))["USDT"] == ("10000.00000000", "0.00000000")
    err = await api_error(trader.cancel_all_open_orders(symbol="TESTUSDT"))
    assert err.code == -2011


async def test_all_orders_and_my_trades_page_from_an_id(trader: AsyncClient):
    for _ in range(3):
        await trader.order_market_buy(symbol="TESTUSDT", quantity="1")
    for price in ("90", "91"):
        await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price=price)
    ids = [o["orderId"] for o in await trader.get_all_orders(symbol="TESTUSDT")]
    assert ids == [1, 2, 3, 4, 5]
    assert [o["orderId"] for o in await trader.get_all_orders(symbol="TESTUSDT", orderId=3, limit=2)] == [3, 4]
    assert [o["orderId"] for o in await trader.get_all_orders(symbol="TESTUSDT", limit=2)] == [4, 5]  # the latest
    trades = await trader.get_my_trades(symbol="TESTUSDT")
    assert [(t["id"], t["orderId"], t["isBuyer"], t["isMaker"]) for t in trades] == [
        (1, 1, True, False),
        (2, 2, True, False),
        (3, 3, True, False),
    ]
    assert trades[0]["quoteQty"] == "100.00000000" and trades[0]["commissionAsset"] == "TEST"
    assert [t["id"] for t in await trader.get_my_trades(symbol="TESTUSDT", fromId=2)] == [2, 3]
    assert [t["id"] for t in await trader.get_my_trades(symbol="TESTUSDT", limit=1)] == [3]
    assert [t["id"] for t in await trader.get_my_trades(symbol="TESTUSDT", orderId=2)] == [2]
    err = await api_error(trader.get_all_orders(symbol="TESTUSDT", limit=1001))
    assert err.code == -1100


async def test_control_endpoints_show_the_account_and_move_funds(tsim, trader: AsyncClient):
    await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90")
    async with httpx.AsyncClient(base_url=tsim.base_url) as http:
        view = (await http.get("/sim/account")).json()
        assert {"asset": "USDT", "free": "9910.00000000", "locked": "90.00000000"} in view["balances"]
        assert [o["price"] for o in view["openOrders"]] == ["90.00000000"]
        too_much = await http.post("/sim/balance", params={"asset": "USDT", "delta": "-9910.01"})  # locked is not free
        assert too_much.status_code == 400
        assert (await http.post("/sim/balance", params={"asset": "USDT", "delta": "-910"})).status_code == 200
        assert (await http.get("/sim/status")).json()["openOrders"] == 1
    assert (await balances(trader))["USDT"] == ("9000.00000000", "90.00000000")
