"""REST market-data endpoints under /api/v3, answering like Binance (errors `{"code": -NNNN, "msg": ...}`, HTTP 400),
plus the middleware that counts request weight (`X-MBX-USED-WEIGHT-1M`) and injects REST faults."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.exchange_simulator import candles
from services.exchange_simulator.faults import BANNED_MSG, TOO_MANY_REQUESTS_MSG, is_order_request
from services.exchange_simulator.state import SimState

VALID_INTERVALS = {"1s", "1m", "3m", "5m", "15m", "30m", "1h", "2h", "4h", "6h", "8h", "12h", "1d", "3d", "1w", "1M"}
SUPPORTED_INTERVALS = ("1h", "1d")
SYMBOL_RE = re.compile(r"^[A-Z0-9\-_.]{1,20}$")
INT_RE = re.compile(r"^-?[0-9]{1,20}$")
WEIGHTS = {
    "/api/v3/ping": 1,
    "/api/v3/time": 1,
    "/api/v3/exchangeInfo": 20,
    "/api/v3/klines": 2,
    "/api/v3/account": 20,
    "/api/v3/allOrders": 20,
    "/api/v3/myTrades": 20,
    "/api/v3/openOrderList": 6,
    "/api/v3/allOrderList": 20,
}
REPLY_LOST = "sim.reply_lost"  # scope flag: this order request is executed but its reply must be lost


class BinanceError(Exception):
    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(msg)
        self.code, self.msg, self.status = code, msg, status


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(body), status_code=status, media_type="application/json", headers=headers)


def error_response(err: BinanceError) -> Response:
    return json_response({"code": err.code, "msg": err.msg}, status=err.status)


# -- parameters ------------------------------------------------------------------------------------------------
def mandatory(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if value is None or value == "":
        raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")
    return value


def optional_int(request: Request, name: str) -> int | None:
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    if not INT_RE.match(value):
        raise BinanceError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^-?[0-9]{{1,20}}$'."
        )
    return int(value)


def check_symbol_format(symbol: str, name: str = "symbol") -> str:
    if not SYMBOL_RE.match(symbol):
        raise BinanceError(
            -1100, f"Illegal characters found in parameter '{name}'; legal range is '^[A-Z0-9-_.]{{1,20}}$'."
        )
    return symbol


def symbols_param(request: Request) -> list[str] | None:
    raw = request.query_params.get("symbols")
    if raw is None:
        return None
    try:
        parsed = orjson.loads(raw)
    except orjson.JSONDecodeError:
        parsed = None
    if not isinstance(parsed, list) or not parsed or not all(isinstance(s, str) for s in parsed):
        raise BinanceError(-1100, "Illegal characters found in parameter 'symbols'; legal range is '[\"SYMBOL\",...]'.")
    if len(set(parsed)) != len(parsed):
        raise BinanceError(-1151, "Symbol is present multiple times in the list.")
    return [check_symbol_format(s, "symbols") for s in parsed]


def symbol_selection(request: Request) -> list[str] | None:
    """`symbol=` or `symbols=[...]` (not both); None = all."""
    single = request.query_params.get("symbol")
    many = symbols_param(request)
    if single is not None and many is not None:
        raise BinanceError(-1101, "Too many parameters; expected 'symbol' and received 'symbols'.")
    if single is not None:
        return [check_symbol_format(mandatory(request, "symbol"))]
    return many


# -- routes ----------------------------------------------------------------------------------------------------
def build_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/api/v3")

    @router.get("/ping")
    async def ping() -> Response:
        return json_response({})

    @router.get("/time")
    async def server_time() -> Response:
        return json_response({"serverTime": state.clock.now_ms()})

    @router.get("/exchangeInfo")
    async def exchange_info(request: Request) -> Response:
        selection = symbol_selection(request)
        if selection is not None and any(s not in state.exchange_info.symbols for s in selection):
            raise BinanceError(-1121, "Invalid symbol.")
        return json_response(state.exchange_info.response(state.clock.now_ms(), selection))

    @router.get("/klines")
    async def klines(request: Request) -> Response:
        symbol = check_symbol_format(mandatory(request, "symbol"))
        interval = mandatory(request, "interval")
        start = optional_int(request, "startTime")
        end = optional_int(request, "endTime")
        limit = optional_int(request, "limit")
        if interval not in VALID_INTERVALS or interval not in SUPPORTED_INTERVALS:
            raise BinanceError(-1120, "Invalid interval.")
        if not state.store.has(symbol):
            raise BinanceError(-1121, "Invalid symbol.")
        if limit is None:
            limit = 500
        if not 1 <= limit <= 1000:
            raise BinanceError(-1100, "Illegal characters found in parameter 'limit'; legal range is '1..1000'.")
        if start is not None and end is not None and start > end:
            raise BinanceError(-1023, "Start time is greater than end time.")
        now = state.clock.now_ms()
        rows = candles.klines(
            state.store.series(symbol, "1d"), state.store.series(symbol, "1h"), interval, now, start, end, limit
        )
        return json_response([candles.rest_row(c) for c in rows])

    @router.get("/ticker/price")
    async def ticker_price(request: Request) -> Response:
        selection = symbol_selection(request)
        now = state.clock.now_ms()
        if selection is not None and any(not state.store.has(s) for s in selection):
            raise BinanceError(-1121, "Invalid symbol.")
        prices = []
        for symbol in selection if selection is not None else state.store.symbols:
            price = candles.last_price(state.store.series(symbol, "1d"), state.store.series(symbol, "1h"), now)
            if price is None:
                if selection is not None:  # not listed yet at the simulated time
                    raise BinanceError(-1121, "Invalid symbol.")
                continue
            prices.append({"symbol": symbol, "price": price})
        if request.query_params.get("symbol") is not None:
            return json_response(prices[0])
        return json_response(prices)

    return router


# -- weight + faults -------------------------------------------------------------------------------------------
class WeightCounter:
    """Request weight used in the current real-time minute, like Binance's X-MBX-USED-WEIGHT-1M."""

    def __init__(self, now_s: Callable[[], float] = time.time) -> None:
        self._now_s = now_s
        self._minute = -1
        self.used = 0

    def add(self, weight: int) -> int:
        minute = int(self._now_s() // 60)
        if minute != self._minute:
            self._minute, self.used = minute, 0
        self.used += weight
        return self.used


def request_weight(request: Request) -> int:
    path, method = request.url.path, request.method
    if path == "/api/v3/ticker/price":
        return 2 if "symbol" in request.query_params else 4
    if path == "/api/v3/openOrders" and method == "GET":
        return 6 if "symbol" in request.query_params else 80
    if path in ("/api/v3/order", "/api/v3/orderList") and method == "GET":
        return 4
    return WEIGHTS.get(path, 1)


CallNext = Callable[[Request], Awaitable[Response]]


def _too_many(retry_after_s: int) -> Response:
    return json_response(
        {"code": -1003, "msg": TOO_MANY_REQUESTS_MSG}, status=429, headers={"Retry-After": str(retry_after_s)}
    )


def _banned(remaining_s: int) -> Response:
    until = int((time.time() + remaining_s) * 1000)
    return json_response(
        {"code": -1003, "msg": BANNED_MSG.format(until=until)}, status=418, headers={"Retry-After": str(remaining_s)}
    )


def api_middleware(state: SimState) -> Callable[[Request, CallNext], Awaitable[Response]]:
    async def middleware(request: Request, call_next: CallNext) -> Response:
        if not request.url.path.startswith("/api/"):
            return await call_next(request)
        used = state.weight.add(request_weight(request))
        faults = state.faults
        if faults.delay_ms:
            await asyncio.sleep(faults.delay_ms / 1000)
        order_request = is_order_request(request.method, request.url.path)
        if (banned_s := faults.ban_remaining_s()) is not None:
            state.log.info("fault_http_418", path=request.url.path, retry_after_s=banned_s)
            response = _banned(banned_s)
        elif order_request and faults.take_order_429():
            state.log.info("fault_order_429", path=request.url.path, retry_after_s=faults.retry_after_s)
            response = _too_many(faults.retry_after_s)
        elif faults.count_request_is_429():
            state.log.info("fault_http_429", path=request.url.path, retry_after_s=faults.retry_after_s)
            response = _too_many(faults.retry_after_s)
        else:
            if order_request and faults.take_reply_lost():
                state.log.info("fault_reply_lost", path=request.url.path, mode=faults.reply_lost_mode)
                request.scope[REPLY_LOST] = True
            try:
                response = await call_next(request)
            except BinanceError as err:  # pragma: no cover - handled by the exception handler
                response = error_response(err)
        response.headers["X-MBX-USED-WEIGHT-1M"] = str(used)
        return response

    return middleware
