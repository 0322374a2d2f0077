"""Signed REST endpoints of the simulated account under /api/v3: account, order (new / test / query / cancel),
openOrders (list / cancel all), allOrders, myTrades, and the OCO order lists (orderList/oco, orderList query /
cancel, openOrderList, allOrderList).  Every request is authenticated (`auth`), its parameters
checked like Binance (unknown ones: -1104), then handed to the `TradingEngine`."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.exchange_simulator.auth import (
    Params,
    authenticate,
    check_api_key,
    illegal,
    parse_total_params,
    rest_payloads,
)
from services.exchange_simulator.engine import TradingEngine
from services.exchange_simulator.ledger import fmt8
from services.exchange_simulator.order_params import client_id, new_client_id, parse_new_oco, parse_new_order
from services.exchange_simulator.rest import BinanceError, check_symbol_format, json_response
from services.exchange_simulator.state import SimState

T = TypeVar("T")


class OrderCounter:
    """Orders placed in the current real-time 10-second interval and UTC day (`X-MBX-ORDER-COUNT-10S` / `-1D`)."""

    def __init__(self, now_s: Callable[[], float] = time.time) -> None:
        self._now_s = now_s
        self._windows = {"10S": (-1, 0), "1D": (-1, 0)}

    def add(self) -> dict[str, str]:
        now = self._now_s()
        out = {}
        for name, length in (("10S", 10), ("1D", 86_400)):
            window, count = self._windows[name]
            current = int(now // length)
            count = count + 1 if current == window else 1
            self._windows[name] = (current, count)
            out[f"X-MBX-ORDER-COUNT-{name}"] = str(count)
        return out


def limit_param(params: Params) -> int:
    limit = params.integer("limit")
    if limit is None:
        return 500
    if not 1 <= limit <= 1000:
        raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.")
    return limit


def page(
    items: Sequence[T],
    ident: Callable[[T], int],
    when: Callable[[T], int],
    from_id: int | None,
    start: int | None,
    end: int | None,
    limit: int,
) -> list[T]:
    """Binance's history paging: with a `from` id (orderId for allOrders, fromId for myTrades) the first `limit`
    with id >= it; else on the time, startTime / endTime inclusive: the first `limit` from startTime, or the last
    `limit` up to endTime (or now)."""
    if from_id is not None:
        return [x for x in items if ident(x) >= from_id][:limit]
    chosen = [x for x in items if (start is None or when(x) >= start) and (end is None or when(x) <= end)]
    return chosen[:limit] if start is not None else chosen[-limit:]


def account_info(engine: TradingEngine, omit_zero: bool) -> dict[str, Any]:
    rate, zero = fmt8(engine.fee_rate), fmt8(Decimal(0))
    bips = int(engine.fee_rate * 10_000)
    return {
        "makerCommission": bips,
        "takerCommission": bips,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": {"maker": rate, "taker": rate, "buyer": zero, "seller": zero},
        "canTrade": True,
        "canWithdraw": True,
        "canDeposit": True,
        "brokered": False,
        "requireSelfTradePrevention": False,
        "preventSor": False,
        "updateTime": engine.ledger.update_time,
        "accountType": "SPOT",
        "balances": engine.ledger.rest(omit_zero),
        "permissions": ["SPOT"],
        "uid": 1,
    }


def commission_rates(fee_rate: Decimal) -> dict[str, Any]:
    """`order/test` with `computeCommissionRates=true`."""
    zero = fmt8(Decimal(0))
    return {
        "standardCommissionForOrder": {"maker": fmt8(fee_rate), "taker": fmt8(fee_rate)},
        "taxCommissionForOrder": {"maker": zero, "taker": zero},
        "discount": {"enabledForAccount": False, "enabledForSymbol": False, "discountAsset": "BNB", "discount": zero},
    }


def build_trading_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/api/v3")
    engine, clock, settings = state.trading, state.clock, state.settings

    async def signed(request: Request) -> Params:
        check_api_key(request.headers.get("X-MBX-APIKEY"), settings.sim_api_key)
        query = request.url.query
        body = "" if request.method == "GET" else (await request.body()).decode("utf-8", "replace")
        params = Params(parse_total_params(query, body))
        authenticate(params, settings.sim_api_secret, rest_payloads(query, body), clock)
        return params

    def symbol_of(params: Params, mandatory: bool = True) -> str | None:
        raw = params.mandatory("symbol") if mandatory else params.get("symbol")
        if raw is None:
            return None
        symbol = check_symbol_format(raw)
        if symbol not in state.exchange_info.symbols:
            raise BinanceError(-1121, "Invalid symbol.")
        return symbol

    def order_ref(params: Params) -> tuple[int | None, str | None]:
        order_id, cid = params.integer("orderId"), client_id(params, "origClientOrderId")
        if order_id is None and cid is None:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!")
        return order_id, cid

    @router.get("/account")
    async def account(request: Request) -> Response:
        params = await signed(request)
        omit = params.get("omitZeroBalances")
        if omit not in (None, "true", "false"):
            raise illegal("omitZeroBalances", "true, false")
        params.check_all_read()
        return json_response(account_info(engine, omit == "true"))

    @router.post("/order")
    async def new_order(request: Request) -> Response:
        params = await signed(request)
        req = parse_new_order(params)
        params.check_all_read()
        now = clock.now_ms()
        order, trades = engine.place(req, now)
        state.log.info("order_placed", symbol=order.symbol, order_id=order.order_id, type=order.type, side=order.side)
        if req.resp_type == "ACK":
            body = order.ack(now)
        elif req.resp_type == "RESULT":
            body = order.result(now)
        else:
            body = order.full(now, trades)
        return json_response(body, headers=state.order_counter.add())

    @router.post("/order/test")
    async def test_order(request: Request) -> Response:
        params = await signed(request)
        req = parse_new_order(params)
        rates = params.get("computeCommissionRates") == "true"
        params.check_all_read()
        engine.validate(req, clock.now_ms())
        if not rates:
            return json_response({})
        return json_response(commission_rates(engine.fee_rate))

    @router.get("/order")
    async def query_order(request: Request) -> Response:
        params = await signed(request)
        symbol = symbol_of(params)
        order_id, cid = order_ref(params)
        params.check_all_read()
        assert symbol is not None
        order = engine.find(symbol, order_id, cid)
        if order is None:
            raise BinanceError(-2013, "Order does not exist.")
        return json_response(order.query())

    @router.delete("/order")
    async def cancel_order(request: Request) -> Response:
        params = await signed(request)
        symbol = symbol_of(params)
        order_id, cid = order_ref(params)
        cancel_id = client_id(params, "newClientOrderId") or new_client_id()
        params.get("cancelRestrictions")
        params.check_all_read()
        assert symbol is not None
        now = clock.now_ms()
        order = engine.cancel(symbol, order_id, cid, cancel_id, now)
        return json_response(order.canceled(cancel_id, now))

    @router.get("/openOrders")
    async def open_orders(request: Request) -> Response:
        params = await signed(request)
        symbol = symbol_of(params, mandatory=False)
        params.check_all_read()
        return json_response([o.query() for o in engine.open_orders(symbol)])

    @router.delete("/openOrders")
    async def cancel_open_orders(request: Request) -> Response:
        params = await signed(request)
        symbol = symbol_of(params)
        params.check_all_read()
        assert symbol is not None
        orders = engine.open_orders(symbol)
        if not orders:
            raise BinanceError(-2011, "Unknown order sent.")
        now = clock.now_ms()
        out: list[dict[str, Any]] = []
        for order in orders:
            if not order.is_open:  # the other leg of an order list canceled just before
                continue
            cancel_id = new_client_id()
            if order.order_list_id > 0:  # an order list is answered as one entry, as on Binance
                order_list = engine.order_lists[order.order_list_id - 1]
                engine.cancel_list(order_list, now)
                out.append(order_list.canceled(cancel_id, now))
                continue
            engine.cancel(symbol, order.order_id, None, cancel_id, now)
            out.append(order.canceled(cancel_id, now))
        return json_response(out)

    @router.get("/allOrders")
    async def all_orders(request: Request) -> Response:
        params = await signed(request)
        symbol = symbol_of(params)
        from_id, start, end = params.integer("orderId"), params.integer("startTime"), params.integer("endTime")
        limit = limit_param(params)
        params.check_all_read()
        assert symbol is not None
        orders = engine.orders.get(symbol, [])
        chosen = page(orders, lambda o: o.order_id, lambda o: o.time, from_id, start, end, limit)
        return json_response([o.query() for o in chosen])

    @router.get("/myTrades")
    async def my_trades(request: Request) -> Response:
        params = await signed(request)
        symbol = symbol_of(params)
        order_id, from_id = params.integer("orderId"), params.integer("fromId")
        start, end = params.integer("startTime"), params.integer("endTime")
        limit = limit_param(params)
        params.check_all_read()
        assert symbol is not None
        trades = engine.trades.get(symbol, [])
        if order_id is not None:
            trades = [t for t in trades if t.order_id == order_id]
        chosen = page(trades, lambda t: t.id, lambda t: t.time, from_id, start, end, limit)
        return json_response([t.rest() for t in chosen])

    # -- order lists (OCO) ----------------------------------------------------------------------------------------
    @router.post("/orderList/oco")
    async def new_oco(request: Request) -> Response:
        params = await signed(request)
        req = parse_new_oco(params)
        params.check_all_read()
        now = clock.now_ms()
        order_list = engine.place_oco(req, now)
        state.log.info("order_list_placed", symbol=req.symbol, order_list_id=order_list.order_list_id, side=req.side)
        state.order_counter.add()  # an OCO counts as two orders
        headers = state.order_counter.add()
        return json_response(order_list.placed(req.resp_type, now), headers=headers)

    def list_ref(params: Params, client_param: str) -> tuple[int | None, str | None]:
        list_id, cid = params.integer("orderListId"), client_id(params, client_param)
        if list_id is None and cid is None:
            msg = f"Param '{client_param}' or 'orderListId' must be sent, but both were empty/null!"
            raise BinanceError(-1102, msg)
        return list_id, cid

    @router.get("/orderList")
    async def query_order_list(request: Request) -> Response:
        params = await signed(request)
        list_id, cid = list_ref(params, "origClientOrderId")
        params.check_all_read()
        order_list = engine.order_list(list_id, cid)
        if order_list is None:
            raise BinanceError(-2013, "Order list does not exist.")
        return json_response(order_list.rest())

    @router.delete("/orderList")
    async def cancel_order_list(request: Request) -> Response:
        params = await signed(request)
        symbol = symbol_of(params)
        list_id, cid = list_ref(params, "listClientOrderId")
        cancel_id = client_id(params, "newClientOrderId") or new_client_id()
        params.check_all_read()
        order_list = engine.order_list(list_id, cid)
        if order_list is None or order_list.symbol != symbol:
            raise BinanceError(-2011, "Unknown order list sent.")
        now = clock.now_ms()
        engine.cancel_list(order_list, now)
        return json_response(order_list.canceled(cancel_id, now))

    @router.get("/openOrderList")
    async def open_order_lists(request: Request) -> Response:
        params = await signed(request)
        params.check_all_read()
        return json_response([lst.rest() for lst in engine.open_order_lists()])

    @router.get("/allOrderList")
    async def all_order_lists(request: Request) -> Response:
        params = await signed(request)
        from_id, start, end = params.integer("fromId"), params.integer("startTime"), params.integer("endTime")
        limit = limit_param(params)
        params.check_all_read()
        lists = engine.order_lists
        chosen = page(lists, lambda x: x.order_list_id, lambda x: x.legs[0].time, from_id, start, end, limit)
        return json_response([lst.rest() for lst in chosen])

    return router
