"""OCO order lists (`POST /api/v3/orderList/oco`, `GET/DELETE /api/v3/orderList`, `openOrderList`, `allOrderList`)
with the real python-binance AsyncClient: one balance lock for both legs, the first leg to act along the candle path
expires the other, cancelling a leg cancels the list, `listStatus` + `executionReport` events, and the rejections.
TESTUSDT hours from DAY0 (conftest.TRADING_HOURS): h2 100 -> 95 -> 102 -> 101, h3 101 -> 100.5 -> 104 -> 103,
h4 103 -> 103.5 -> 96 -> 97; the simulator starts at DAY0 + 2h with the last price 100, USDT=10000, TEST=10."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException

from services.exchange_simulator.testing import RunningSimulator

from .conftest import DAY0, HOUR, advance, signed_client, trading_simulator

T2 = DAY0 + 2 * HOUR
LIST_KEYS = [
    "orderListId",
    "contingencyType",
    "listStatusType",
    "listOrderStatus",
    "listClientOrderId",
    "transactionTime",
    "symbol",
    "orders",
]


def sell_oco(client: AsyncClient, above: str, stop: str, limit: str, qty: str = "1", **extra: Any):
    return client.order_oco_sell(
        symbol="TESTUSDT",
        quantity=qty,
        aboveType="LIMIT_MAKER",
        abovePrice=above,
        belowType="STOP_LOSS_LIMIT",
        belowStopPrice=stop,
        belowPrice=limit,
        belowTimeInForce="GTC",
        **extra,
    )


async def balance(client: AsyncClient, asset: str) -> tuple[str, str]:
    b = await client.get_asset_balance(asset)
    return b["free"], b["locked"]


async def status(client: AsyncClient, order_id: int) -> str:
    return (await client.get_order(symbol="TESTUSDT", orderId=order_id))["status"]


async def get_list(client: AsyncClient, **params: Any) -> dict:
    return await client._get("orderList", True, data=params)


async def cancel_list(client: AsyncClient, **params: Any) -> dict:
    return await client._delete("orderList", True, data={"symbol": "TESTUSDT", **params})


async def api_error(call) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as exc:
        await call
    return exc.value


async def test_a_sell_oco_locks_the_base_once_and_answers_like_binance(trader: AsyncClient):
    r = await sell_oco(
        trader,
        "103",
        "96",
        "95.5",
        qty="2",
        listClientOrderId="oco-1",
        aboveClientOrderId="tp",
        belowClientOrderId="sl",
    )
    assert list(r) == [*LIST_KEYS, "orderReports"]
    assert (r["contingencyType"], r["listStatusType"], r["listOrderStatus"], r["listClientOrderId"]) == (
        "OCO",
        "EXEC_STARTED",
        "EXECUTING",
        "oco-1",
    )
    assert (r["orderListId"], r["transactionTime"], r["symbol"]) == (1, T2, "TESTUSDT")
    assert r["orders"] == [
        {"symbol": "TESTUSDT", "orderId": 1, "clientOrderId": "sl"},
        {"symbol": "TESTUSDT", "orderId": 2, "clientOrderId": "tp"},
    ]
    sl, tp = r["orderReports"]
    assert (sl["type"], sl["side"], sl["price"], sl["stopPrice"], sl["workingTime"]) == (
        "STOP_LOSS_LIMIT",
        "SELL",
        "95.50000000",
        "96.00000000",
        -1,
    )
    assert (tp["type"], tp["price"], tp["timeInForce"], tp["workingTime"], tp["status"]) == (
        "LIMIT_MAKER",
        "103.00000000",
        "GTC",
        T2,
        "NEW",
    )
    assert sl["orderListId"] == tp["orderListId"] == 1 and "stopPrice" not in tp
    assert await balance(trader, "TEST") == ("8.00000000", "2.00000000")  # 2 locked, not 4
    assert await balance(trader, "USDT") == ("10000.00000000", "0.00000000")
    legs = await trader.get_open_orders(symbol="TESTUSDT")
    assert [(o["orderId"], o["orderListId"], o["type"]) for o in legs] == [
        (1, 1, "STOP_LOSS_LIMIT"),
        (2, 1, "LIMIT_MAKER"),
    ]


async def test_the_take_profit_filling_expires_the_stop_leg(tsim: RunningSimulator, trader: AsyncClient):
    r = await sell_oco(trader, "101.5", "94", "93.5")  # h2 rises to 102, its low 95 stays above the stop
    sl, tp = (o["orderId"] for o in r["orders"])
    await advance(tsim, trader, to=T2 + HOUR)
    assert (await status(trader, tp), await status(trader, sl)) == ("FILLED", "EXPIRED")
    (trade,) = await trader.get_my_trades(symbol="TESTUSDT")
    assert (trade["orderId"], trade["orderListId"], trade["price"], trade["isMaker"]) == (tp, 1, "101.50000000", True)
    listed = await get_list(trader, orderListId=r["orderListId"])
    assert (listed["listStatusType"], listed["listOrderStatus"], listed["transactionTime"]) == (
        "ALL_DONE",
        "ALL_DONE",
        T2 + HOUR,
    )
    assert await balance(trader, "TEST") == ("9.00000000", "0.00000000")
    assert await balance(trader, "USDT") == ("10101.39850000", "0.00000000")  # 101.5 - 0.1015 commission


async def test_the_stop_triggering_first_on_the_path_expires_the_take_profit(
    tsim: RunningSimulator, trader: AsyncClient
):
    # h2 falls 100 -> 95 through the stop 96 before it rises to 102, past the take profit at 101.5
    r = await sell_oco(trader, "101.5", "96", "95.5")
    sl, tp = (o["orderId"] for o in r["orders"])
    await advance(tsim, trader, to=T2 + HOUR)
    assert (await status(trader, sl), await status(trader, tp)) == ("FILLED", "EXPIRED")
    (trade,) = await trader.get_my_trades(symbol="TESTUSDT")
    assert (trade["orderId"], trade["price"], trade["isMaker"]) == (sl, "96.00000000", False)  # at the trigger
    assert await balance(trader, "TEST") == ("9.00000000", "0.00000000")


async def test_the_take_profit_first_on_a_bearish_path_wins_and_a_triggered_stop_keeps_working(
    tsim: RunningSimulator, trader: AsyncClient
):
    await advance(tsim, trader, to=T2 + 2 * HOUR)  # last price 103 (h3's close)
    first = await sell_oco(trader, "103.4", "97", "96.5")  # h4 103 -> 103.5 (take profit) -> 96 (stop): TP first
    working = await sell_oco(trader, "103.6", "97", "97.5")  # TP not reached; triggered at 97, limit 97.5 unreached
    await advance(tsim, trader, to=T2 + 3 * HOUR)
    f_sl, f_tp = (o["orderId"] for o in first["orders"])
    w_sl, w_tp = (o["orderId"] for o in working["orders"])
    assert (await status(trader, f_tp), await status(trader, f_sl)) == ("FILLED", "EXPIRED")
    assert (await status(trader, w_sl), await status(trader, w_tp)) == ("NEW", "EXPIRED")
    leg = await trader.get_order(symbol="TESTUSDT", orderId=w_sl)
    assert (leg["isWorking"], leg["workingTime"]) == (True, T2 + 3 * HOUR)
    open_lists = await trader.get_open_oco_orders()
    assert [(x["orderListId"], x["listStatusType"], x["listOrderStatus"]) for x in open_lists] == [
        (working["orderListId"], "EXEC_STARTED", "EXECUTING")
    ]
    assert await balance(trader, "TEST") == ("8.00000000", "1.00000000")  # the working stop keeps the single lock


async def test_a_partial_fill_of_the_take_profit_expires_the_stop(trading_data: Path):
    async with trading_simulator(trading_data, sim_partial_fill_ratio="0.5") as sim, signed_client(sim) as client:
        r = await sell_oco(client, "101.5", "94", "93.5")
        sl, tp = (o["orderId"] for o in r["orders"])
        await advance(sim, client, to=T2 + HOUR)
        assert (await status(client, tp), await status(client, sl)) == ("PARTIALLY_FILLED", "EXPIRED")
        listed = await get_list(client, orderListId=r["orderListId"])
        assert (listed["listStatusType"], listed["listOrderStatus"]) == ("EXEC_STARTED", "EXECUTING")
        assert await balance(client, "TEST") == ("9.00000000", "0.50000000")
        await cancel_list(client, orderListId=r["orderListId"])
        assert await balance(client, "TEST") == ("9.50000000", "0.00000000")


async def test_a_buy_oco_locks_the_dearer_leg_once_and_its_take_profit_fills_below(
    tsim: RunningSimulator, trader: AsyncClient
):
    r = await trader.order_oco_buy(
        symbol="TESTUSDT",
        quantity="1",
        aboveType="STOP_LOSS_LIMIT",
        aboveStopPrice="101.5",
        abovePrice="102",
        aboveTimeInForce="GTC",
        belowType="LIMIT_MAKER",
        belowPrice="96",
    )
    assert [o["type"] for o in r["orderReports"]] == ["STOP_LOSS_LIMIT", "LIMIT_MAKER"]
    assert await balance(trader, "USDT") == ("9898.00000000", "102.00000000")
    await advance(tsim, trader, to=T2 + HOUR)  # h2 falls to 95 (96 reached) before rising to 102
    sl, tp = (o["orderId"] for o in r["orders"])
    assert (await status(trader, tp), await status(trader, sl)) == ("FILLED", "EXPIRED")
    assert await balance(trader, "USDT") == ("9904.00000000", "0.00000000")
    assert await balance(trader, "TEST") == ("10.99900000", "0.00000000")


async def test_cancel_the_list_by_id_or_client_id_or_through_one_leg(trader: AsyncClient):
    a = await sell_oco(trader, "103", "96", "95.5", listClientOrderId="list-a")
    await sell_oco(trader, "104", "95", "94.5", listClientOrderId="list-b")
    c = await sell_oco(trader, "105", "94", "93.5", listClientOrderId="list-c")
    assert await balance(trader, "TEST") == ("7.00000000", "3.00000000")

    done = await cancel_list(trader, orderListId=a["orderListId"], newClientOrderId="cxl-a")
    assert list(done) == [*LIST_KEYS, "orderReports"]
    assert (done["listStatusType"], done["listOrderStatus"], done["listClientOrderId"]) == (
        "ALL_DONE",
        "ALL_DONE",
        "cxl-a",
    )
    assert [(x["status"], x["orderListId"]) for x in done["orderReports"]] == [("CANCELED", 1), ("CANCELED", 1)]
    await cancel_list(trader, listClientOrderId="list-b")

    leg = c["orders"][1]["orderId"]  # the take profit: DELETE /order cancels the whole list
    canceled = await trader.cancel_order(symbol="TESTUSDT", orderId=leg)
    assert (canceled["status"], canceled["orderListId"]) == ("CANCELED", c["orderListId"])
    assert await status(trader, c["orders"][0]["orderId"]) == "CANCELED"
    assert (await get_list(trader, origClientOrderId="list-c"))["listOrderStatus"] == "ALL_DONE"
    assert await trader.get_open_orders() == [] and await trader.get_open_oco_orders() == []
    assert await balance(trader, "TEST") == ("10.00000000", "0.00000000")

    err = await api_error(cancel_list(trader, orderListId=a["orderListId"]))
    assert (err.code, err.message) == (-2011, "Unknown order list sent.")


async def test_cancel_open_orders_answers_an_order_list_as_one_entry(trader: AsyncClient):
    await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90")
    oco = await sell_oco(trader, "103", "96", "95.5")
    out = await trader.cancel_all_open_orders(symbol="TESTUSDT")
    assert [x.get("orderListId") for x in out] == [-1, oco["orderListId"]]
    assert out[1]["listStatusType"] == "ALL_DONE" and len(out[1]["orderReports"]) == 2
    assert await balance(trader, "TEST") == ("10.00000000", "0.00000000")


async def test_query_endpoints(trader: AsyncClient):
    a = await sell_oco(trader, "103", "96", "95.5", listClientOrderId="q-a")
    b = await sell_oco(trader, "104", "95", "94.5", listClientOrderId="q-b")
    await cancel_list(trader, orderListId=a["orderListId"])
    by_id = await get_list(trader, orderListId=b["orderListId"])
    assert list(by_id) == LIST_KEYS and by_id["orders"] == b["orders"]
    assert await get_list(trader, origClientOrderId="q-b") == by_id
    assert (await get_list(trader, origClientOrderId="q-a"))["listStatusType"] == "ALL_DONE"
    assert [x["orderListId"] for x in await trader.get_open_oco_orders()] == [b["orderListId"]]
    every = await trader._get("allOrderList", True, data={})
    assert [x["listClientOrderId"] for x in every] == ["q-a", "q-b"]
    leg = await trader.get_order(symbol="TESTUSDT", origClientOrderId=b["orders"][0]["clientOrderId"])
    assert leg["orderListId"] == b["orderListId"]

    err = await api_error(get_list(trader, orderListId=99))
    assert (err.code, err.message) == (-2013, "Order list does not exist.")
    err = await api_error(get_list(trader))
    assert err.code == -1102


async def events(sock, n: int) -> list[dict[str, Any]]:
    return [await asyncio.wait_for(sock.recv(), 5) for _ in range(n)]


async def test_user_stream_list_status_and_execution_reports(tsim: RunningSimulator, trader: AsyncClient):
    async with BinanceSocketManager(trader).user_socket() as sock:
        r = await sell_oco(trader, "101.5", "94", "93.5", listClientOrderId="ev-1")
        sl, tp = (o["orderId"] for o in r["orders"])
        placed = await events(sock, 4)
        assert [e["e"] for e in placed] == [
            "executionReport",
            "executionReport",
            "listStatus",
            "outboundAccountPosition",
        ]
        assert [(e["i"], e["x"], e["X"], e["g"], e["o"]) for e in placed[:2]] == [
            (sl, "NEW", "NEW", 1, "STOP_LOSS_LIMIT"),
            (tp, "NEW", "NEW", 1, "LIMIT_MAKER"),
        ]
        assert placed[2] == {
            "e": "listStatus",
            "E": T2,
            "s": "TESTUSDT",
            "g": 1,
            "c": "OCO",
            "l": "EXEC_STARTED",
            "L": "EXECUTING",
            "r": "NONE",
            "C": "ev-1",
            "T": T2,
            "O": [
                {"s": "TESTUSDT", "i": sl, "c": r["orders"][0]["clientOrderId"]},
                {"s": "TESTUSDT", "i": tp, "c": r["orders"][1]["clientOrderId"]},
            ],
        }
        assert placed[3]["B"] == [{"a": "TEST", "f": "9.00000000", "l": "1.00000000"}]

        await advance(tsim, trader, to=T2 + HOUR)
        filled = await events(sock, 4)
        assert [(e["e"], e.get("i"), e.get("x"), e.get("X"), e["E"]) for e in filled[:2]] == [
            ("executionReport", sl, "EXPIRED", "EXPIRED", T2 + HOUR),
            ("executionReport", tp, "TRADE", "FILLED", T2 + HOUR),
        ]
        assert filled[0]["g"] == filled[1]["g"] == 1
        assert (filled[2]["e"], filled[2]["l"], filled[2]["L"], filled[2]["E"]) == (
            "listStatus",
            "ALL_DONE",
            "ALL_DONE",
            T2 + HOUR,
        )
        assert filled[3]["e"] == "outboundAccountPosition"

        await sell_oco(trader, "103", "96", "95.5")
        await events(sock, 4)
        await cancel_list(trader, orderListId=2)
        canceled = await events(sock, 4)
        assert [(e["e"], e.get("X"), e["g"]) for e in canceled[:3]] == [
            ("executionReport", "CANCELED", 2),
            ("executionReport", "CANCELED", 2),
            ("listStatus", None, 2),
        ]
        assert (canceled[2]["l"], canceled[2]["L"]) == ("ALL_DONE", "ALL_DONE")
        assert canceled[3]["B"] == [{"a": "TEST", "f": "9.00000000", "l": "0.00000000"}]


OCO_BASE = {
    "symbol": "TESTUSDT",
    "side": "SELL",
    "quantity": "1",
    "aboveType": "LIMIT_MAKER",
    "abovePrice": "103",
    "belowType": "STOP_LOSS_LIMIT",
    "belowStopPrice": "96",
    "belowPrice": "95.5",
    "belowTimeInForce": "GTC",
}


REJECTIONS: list[tuple[dict[str, str | None], int, str]] = [
    ({"belowStopPrice": None}, -1102, "Mandatory parameter 'belowStopPrice' was not sent, was empty/null"),
    ({"abovePrice": None}, -1102, "Mandatory parameter 'abovePrice' was not sent, was empty/null"),
    ({"belowTimeInForce": None}, -1102, "Mandatory parameter 'belowTimeInForce' was not sent"),
    ({"aboveType": None}, -1102, "Mandatory parameter 'aboveType' was not sent"),
    ({"quantity": None}, -1102, "Mandatory parameter 'quantity' was not sent"),
    ({"aboveStopPrice": "104"}, -1106, "Parameter 'aboveStopPrice' sent when not required."),
    ({"aboveTimeInForce": "GTC"}, -1106, "Parameter 'aboveTimeInForce' sent when not required."),
    ({"price": "103"}, -1104, "Not all sent parameters were read; read '"),
    ({"side": "HOLD"}, -1117, "Invalid side."),
    ({"aboveType": "LIMIT"}, -1116, "Invalid orderType."),
    ({"aboveType": "TAKE_PROFIT_LIMIT"}, -1014, "Unsupported order combination."),
    ({"belowTimeInForce": "IOC"}, -1014, "Unsupported order combination."),
    ({"belowTimeInForce": "GTX"}, -1115, "Invalid timeInForce."),
    ({"abovePrice": "103.001"}, -1013, "Filter failure: PRICE_FILTER"),
    ({"belowStopPrice": "96.001"}, -1013, "Filter failure: PRICE_FILTER"),
    ({"quantity": "0.00001"}, -1013, "Filter failure: LOT_SIZE"),
    ({"quantity": "0.05"}, -1013, "Filter failure: MIN_NOTIONAL"),
    ({"quantity": "10.5"}, -2010, "Account has insufficient balance for requested action."),
    ({"abovePrice": "95"}, -2010, "The relationship of the prices for the orders is not correct."),
    ({"belowStopPrice": "100", "belowPrice": "99.5"}, -2010, "Order would trigger immediately."),
    ({"abovePrice": "99.5", "belowStopPrice": "98"}, -2010, "Order would immediately match and take."),
    ({"listClientOrderId": "bad id"}, -1100, "Illegal characters found in parameter 'listClientOrderId'"),
    ({"aboveClientOrderId": "same", "belowClientOrderId": "same"}, -2010, "Duplicate order sent."),
]


async def test_rejections_are_binances(trader: AsyncClient):
    # one server for all cases (a server per case would cost ~0.2 s each)
    for params, code, msg in REJECTIONS:
        oco = {**OCO_BASE, "listClientOrderId": "rej", **params}
        sent = {k: v for k, v in oco.items() if v is not None}
        err = await api_error(trader._post("orderList/oco", True, data=sent))
        assert (err.status_code, err.code, err.message[: len(msg)]) == (400, code, msg), params
    assert await trader.get_open_orders() == [] and await trader.get_open_oco_orders() == []
    assert await balance(trader, "TEST") == ("10.00000000", "0.00000000")


async def test_a_second_open_list_with_the_same_list_client_id_is_a_duplicate(trader: AsyncClient):
    await sell_oco(trader, "103", "96", "95.5", listClientOrderId="dup")
    err = await api_error(sell_oco(trader, "104", "96", "95.5", listClientOrderId="dup"))
    assert (err.code, err.message) == (-2010, "Duplicate order sent.")


async def test_a_buy_oco_checks_the_mirrored_price_rules(trader: AsyncClient):
    buy = {
        "symbol": "TESTUSDT",
        "side": "BUY",
        "quantity": "1",
        "aboveType": "STOP_LOSS_LIMIT",
        "aboveStopPrice": "104",
        "abovePrice": "104.5",
        "aboveTimeInForce": "GTC",
        "belowType": "LIMIT_MAKER",
        "belowPrice": "97",
    }
    cases = [
        ({"belowPrice": "105"}, "The relationship of the prices for the orders is not correct."),
        ({"aboveStopPrice": "99.5", "belowPrice": "97"}, "Order would trigger immediately."),
        ({"belowPrice": "100"}, "Order would immediately match and take."),
    ]
    for change, msg in cases:
        err = await api_error(trader._post("orderList/oco", True, data={**buy, **change}))
        assert (err.code, err.message) == (-2010, msg)
    placed = await trader._post("orderList/oco", True, data=buy)
    assert placed["listOrderStatus"] == "EXECUTING"


async def test_a_limit_maker_order_rests_like_a_limit_and_is_rejected_when_it_would_take(
    tsim: RunningSimulator, trader: AsyncClient
):
    err = await api_error(
        trader.create_order(symbol="TESTUSDT", side="SELL", type="LIMIT_MAKER", quantity="1", price="99")
    )
    assert (err.code, err.message) == (-2010, "Order would immediately match and take.")
    err = await api_error(
        trader.create_order(
            symbol="TESTUSDT", side="SELL", type="LIMIT_MAKER", quantity="1", price="101", timeInForce="GTC"
        )
    )
    assert (err.code, err.message) == (-1106, "Parameter 'timeInForce' sent when not required.")
    placed = await trader.create_order(symbol="TESTUSDT", side="SELL", type="LIMIT_MAKER", quantity="1", price="101")
    assert set(placed) == {"symbol", "orderId", "orderListId", "clientOrderId", "transactTime"}  # ACK by default
    await advance(tsim, trader, to=T2 + HOUR)
    (trade,) = await trader.get_my_trades(symbol="TESTUSDT")
    assert (trade["price"], trade["isMaker"], trade["orderListId"]) == ("101.00000000", True, -1)
