"""BinanceSpot's outcome mapping for the answers the exchange simulator cannot give (HTTP 418 and 5xx, -1007,
-1015 without Retry-After, a refused connection): a scripted aiohttp server on loopback plays the exchange.
The cases the simulator can produce (429 + Retry-After, -1021, lost replies) are tested against it in
tests/contract/test_binance_spot_on_simulator.py."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr

from binance_tool.config.settings import ExchangeKind, ExchangeSettings
from binance_tool.exchange.binance_execution import BinanceSpot
from binance_tool.exchange.execution import (
    ExchangeUnavailable,
    OrderOutcome,
    OrderRequest,
    OrderType,
    Side,
)
from binance_tool.exchange.execution_support import ExchangeRequestError

D = Decimal
ORDER = OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.001"), "cid-1", price=D("20000"))
EXCHANGE_INFO = {
    "rateLimits": [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 50},
    ],
    "symbols": [
        {
            "symbol": "BTCUSDT",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "minQty": "0.00001", "maxQty": "9000", "stepSize": "0.00001"},
                {"filterType": "NOTIONAL", "minNotional": "5", "applyMinToMarket": True, "maxNotional": "9000000"},
            ],
        }
    ],
}
NEW_ORDER = {
    "symbol": "BTCUSDT",
    "orderId": 7,
    "orderListId": -1,
    "clientOrderId": "cid-1",
    "transactTime": 1_700_000_000_000,
    "price": "20000.00",
    "origQty": "0.00100",
    "executedQty": "0.00000",
    "cummulativeQuoteQty": "0.00",
    "status": "NEW",
    "timeInForce": "GTC",
    "type": "LIMIT",
    "side": "BUY",
    "fills": [],
}

Reply = tuple[int, Any, dict[str, str]]


class Stub:
    """Answers each `METHOD /path` from a script (then a default), recording every request and its time."""

    def __init__(self) -> None:
        self.script: dict[str, deque[Reply]] = defaultdict(deque)
        self.requests: list[tuple[float, str, dict[str, str]]] = []
        self.delay_s = 0.0
        self.defaults: dict[str, Reply] = {
            "GET /api/v3/time": (200, None, {}),
            "GET /api/v3/exchangeInfo": (200, EXCHANGE_INFO, {}),
            "POST /api/v3/order": (200, NEW_ORDER, {"X-MBX-ORDER-COUNT-10S": "1"}),
        }

    def then(self, key: str, status: int, body: Any, **headers: str) -> None:
        self.script[key].append((status, body, headers))

    def count(self, key: str) -> int:
        return sum(1 for _, k, _ in self.requests if k == key)

    async def handle(self, request: web.Request) -> web.Response:
        key = f"{request.method} {request.path}"
        params = dict(request.query) | dict(await request.post())
        self.requests.append((time.monotonic(), key, params))
        status, body, headers = (
            self.script[key].popleft() if self.script[key] else self.defaults.get(key, (404, {}, {}))
        )
        if key == "GET /api/v3/time" and body is None:
            body = {"serverTime": int(time.time() * 1000)}
        if self.delay_s:
            await asyncio.sleep(self.delay_s)
        text = body if isinstance(body, str) else json.dumps(body)
        return web.Response(status=status, text=text, headers=headers, content_type="application/json")


def settings(port: int, timeout: float = 2.0) -> ExchangeSettings:
    return ExchangeSettings(
        exchange=ExchangeKind.SIMULATOR,
        simulator_url=f"http://127.0.0.1:{port}",
        binance_api_key=SecretStr("key"),
        binance_api_secret=SecretStr("secret"),
        binance_request_timeout_s=timeout,
    )


@pytest.fixture
async def stub() -> AsyncIterator[tuple[Stub, int]]:
    s = Stub()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", s.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield s, port
    await runner.cleanup()


@pytest.fixture
async def spot(stub: tuple[Stub, int]) -> AsyncIterator[BinanceSpot]:
    adapter = BinanceSpot(settings(stub[1]), max_wait_s=0.5, rate_limit_retries=2, read_retries=1)
    yield adapter
    await adapter.close()


def error(code: int, msg: str) -> dict[str, Any]:
    return {"code": code, "msg": msg}


async def test_an_accepted_order_is_parsed_and_sent_with_decimal_strings(stub, spot):
    s, _ = stub
    result = await spot.place_order(ORDER)
    assert result.outcome is OrderOutcome.ACCEPTED and result.order.order_id == 7
    ((_, _, sent),) = [r for r in s.requests if r[1] == "POST /api/v3/order"]
    assert (sent["quantity"], sent["price"], sent["timeInForce"], sent["newOrderRespType"]) == (
        "0.001",
        "20000",
        "GTC",
        "FULL",
    )
    assert sent["newClientOrderId"] == "cid-1" and "signature" in sent and "timestamp" in sent


async def test_a_418_is_rejected_rate_limited_and_nothing_is_sent_until_the_ban_ends(stub, spot):
    s, _ = stub
    s.then("POST /api/v3/order", 418, error(-1003, "IP banned"), **{"Retry-After": "120"})
    first = await spot.place_order(ORDER)
    assert (first.outcome, first.rate_limited, first.retry_after_s) == (OrderOutcome.REJECTED, True, 120)
    second = await spot.place_order(ORDER)
    assert (second.outcome, second.rate_limited) == (OrderOutcome.DENIED, True)
    assert 119 < second.retry_after_s <= 120
    assert s.count("POST /api/v3/order") == 1
    with pytest.raises(ExchangeUnavailable):
        await spot.balances()


@pytest.mark.parametrize(
    ("status", "body"),
    [
        (500, "<html>Internal error</html>"),
        (503, error(-1001, "Internal error; unable to process your request.")),
        (400, error(-1007, "Timeout waiting for response from backend server. Send status unknown.")),
    ],
)
async def test_5xx_and_execution_status_unknown_codes_are_unknown_and_never_retried(stub, spot, status, body):
    s, _ = stub
    s.then("POST /api/v3/order", status, body)
    result = await spot.place_order(ORDER)
    assert result.outcome is OrderOutcome.UNKNOWN
    assert s.count("POST /api/v3/order") == 1


async def test_an_order_count_429_without_retry_after_waits_out_the_10s_window(stub, spot):
    s, _ = stub
    s.then("POST /api/v3/order", 429, error(-1015, "Too many new orders; current limit is 50 orders per 10 SECOND."))
    result = await spot.place_order(ORDER)  # max_wait_s 0.5 < the rest of the 10 s window (unless at its very end)
    if result.outcome is OrderOutcome.ACCEPTED:  # the window happened to end within 0.5 s: retried and accepted
        assert s.count("POST /api/v3/order") == 2
        return
    assert (result.outcome, result.rate_limited) == (OrderOutcome.REJECTED, True)
    assert 0 < result.retry_after_s <= 10
    again = await spot.place_order(ORDER)
    assert (again.outcome, again.rate_limited) == (OrderOutcome.DENIED, True)
    assert s.count("POST /api/v3/order") == 1


async def test_the_used_weight_header_paces_later_requests(stub, spot):
    s, _ = stub
    s.then("GET /api/v3/openOrders", 200, [], **{"X-MBX-USED-WEIGHT-1M": "5990"})
    assert await spot.open_orders("BTCUSDT") == []
    assert spot.limits.snapshot()["windows"]["REQUEST_WEIGHT/1M"].startswith("5990/")
    result = await spot.place_order(ORDER)  # over 90 % of 6000 until the minute ends; max_wait_s is 0.5
    assert (result.outcome, result.rate_limited) == (OrderOutcome.DENIED, True) or time.time() % 60 > 59.4
    assert s.count("POST /api/v3/order") == (0 if result.outcome is OrderOutcome.DENIED else 1)


async def test_a_timestamp_error_resyncs_the_clock_and_retries_once(stub, spot):
    s, _ = stub
    s.then("POST /api/v3/order", 400, error(-1021, "Timestamp for this request is outside of the recvWindow."))
    assert (await spot.place_order(ORDER)).outcome is OrderOutcome.ACCEPTED
    assert s.count("GET /api/v3/time") == 2 and s.count("POST /api/v3/order") == 2
    for _ in range(2):
        s.then("POST /api/v3/order", 400, error(-1021, "Timestamp for this request is outside of the recvWindow."))
    result = await spot.place_order(ORDER)
    assert (result.outcome, result.code) == (OrderOutcome.REJECTED, -1021)


async def test_a_business_error_is_rejected_with_its_code(stub, spot):
    s, _ = stub
    s.then("POST /api/v3/order", 400, error(-2010, "Account has insufficient balance for requested action."))
    result = await spot.place_order(ORDER)
    assert (result.outcome, result.code, result.reason) == (
        OrderOutcome.REJECTED,
        -2010,
        "Account has insufficient balance for requested action.",
    )


async def test_a_reply_that_does_not_come_in_time_is_unknown(stub):
    s, port = stub
    spot = BinanceSpot(settings(port, timeout=0.3))
    try:
        assert (await spot.symbol_filters())["BTCUSDT"].min_notional == 5
        await spot.sync_time()
        s.delay_s = 0.6
        result = await spot.place_order(ORDER)
        assert result.outcome is OrderOutcome.UNKNOWN and "no answer" in result.reason
    finally:
        await spot.close()


async def test_a_refused_connection_is_denied_as_not_sent_and_reads_are_unavailable():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # bound but not listening: connections are refused
        spot = BinanceSpot(settings(port), connect_retries=1, read_retries=0)
        try:
            result = await spot.place_order(ORDER)
            assert result.outcome is OrderOutcome.DENIED and result.reason.startswith("not sent")
            with pytest.raises(ExchangeUnavailable):
                await spot.balances()
        finally:
            await spot.close()


async def test_reads_map_errors_and_a_failed_exchange_info_is_not_cached(stub, spot):
    s, _ = stub
    s.then("GET /api/v3/order", 400, error(-2013, "Order does not exist."))
    assert await spot.get_order("BTCUSDT", "nope") is None
    s.then("GET /api/v3/openOrders", 400, error(-1121, "Invalid symbol."))
    with pytest.raises(ExchangeRequestError) as err:
        await spot.open_orders("NOPE")
    assert err.value.code == -1121
    for _ in range(2):
        s.then("GET /api/v3/exchangeInfo", 502, "bad gateway")
    with pytest.raises(ExchangeUnavailable):
        await spot.symbol_filters()
    assert set(await spot.symbol_filters()) == {"BTCUSDT"}
    await spot.symbol_filters(["BTCUSDT"])
    assert s.count("GET /api/v3/exchangeInfo") == 3  # two failures, then one fetch served from the cache
    assert spot.limits.snapshot()["windows"]["ORDERS/10S"].endswith("/50")


async def test_without_credentials_orders_are_denied_and_nothing_is_sent(stub):
    s, port = stub
    # (talking to the simulator without keys would sign with its public dev pair; a real exchange has no default)
    spot = BinanceSpot(settings(port).model_copy(update={"binance_api_key": None, "exchange": ExchangeKind.BINANCE}))
    try:
        result = await spot.place_order(ORDER)
        assert result.outcome is OrderOutcome.DENIED and "API key" in result.reason
        assert s.count("POST /api/v3/order") == 0
    finally:
        await spot.close()


async def test_filters_are_checked_before_sending(stub, spot):
    s, _ = stub
    bad = OrderRequest("BTCUSDT", Side.BUY, OrderType.LIMIT, D("0.000015"), "cid-2", price=D("20000"))
    result = await spot.place_order(bad)
    assert (result.outcome, result.code) == (OrderOutcome.DENIED, -1013)
    assert s.count("POST /api/v3/order") == 0
