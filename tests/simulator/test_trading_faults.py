"""Trading faults with the real python-binance client: order 429s escalating to a 418 ban for a client that does not
back off, lost replies of executed order requests (connection closed or held), and user-stream drops."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import httpx
import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException
from binance.ws.websocket_api import WebsocketAPI

from services.exchange_simulator.testing import RunningSimulator

from .conftest import set_faults


async def api_error(call) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as exc:
        await call
    return exc.value


async def test_order_429_then_418_ban_for_a_client_that_does_not_wait(tsim: RunningSimulator, trader: AsyncClient):
    await set_faults(tsim, order_429_next=1, retry_after_s=2, order_ban_s=1)
    err = await api_error(trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90"))
    assert (err.status_code, err.code, err.response.headers["Retry-After"]) == (429, -1003, "2")
    banned = await api_error(trader.get_open_orders(symbol="TESTUSDT"))  # did not wait the 2 s
    assert (banned.status_code, banned.code, banned.response.headers["Retry-After"]) == (418, -1003, "1")
    assert banned.message.startswith("Way too much request weight used; IP banned until ")
    assert (await api_error(trader.get_server_time())).status_code == 418  # every request while banned
    await asyncio.sleep(1.05)
    assert await trader.get_open_orders(symbol="TESTUSDT") == []  # the 429'd order was not executed


async def test_a_client_that_honours_retry_after_is_not_banned(tsim: RunningSimulator, trader: AsyncClient):
    await set_faults(tsim, order_429_next=1, retry_after_s=1)
    err = await api_error(trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90"))
    assert err.status_code == 429
    await asyncio.sleep(float(err.response.headers["Retry-After"]) + 0.02)
    placed = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90")
    assert placed["status"] == "NEW"
    assert (await set_faults(tsim))["banned"] is False


@pytest.fixture
def uvicorn_errors(caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.ERROR, logger="uvicorn.error")
    yield caplog
    assert [r.getMessage() for r in caplog.records if r.name.startswith("uvicorn")] == []


async def test_reply_lost_by_closing_the_connection_but_the_order_is_placed(
    tsim: RunningSimulator, trader: AsyncClient, uvicorn_errors
):
    await set_faults(tsim, reply_lost_next=1, reply_lost_mode="close")
    async with BinanceSocketManager(trader).user_socket() as sock:
        with pytest.raises(aiohttp.ClientError):
            await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90", newClientOrderId="lost-1")
        event = await asyncio.wait_for(sock.recv(), 5)
        assert (event["e"], event["c"], event["x"]) == ("executionReport", "lost-1", "NEW")  # the stream tells
    found = await trader.get_order(symbol="TESTUSDT", origClientOrderId="lost-1")  # and so does a query
    assert found["status"] == "NEW"
    again = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="91")  # only the next one is lost
    assert again["orderId"] == found["orderId"] + 1


async def test_reply_lost_by_holding_the_connection_past_the_client_timeout(
    tsim: RunningSimulator, trader: AsyncClient, uvicorn_errors
):
    await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="90", newClientOrderId="to-cancel")
    await set_faults(tsim, reply_lost_next=1, reply_lost_mode="hold", reply_lost_hold_s=30)
    trader.REQUEST_TIMEOUT = 0.3
    started = time.perf_counter()
    with pytest.raises(TimeoutError):
        await trader.cancel_order(symbol="TESTUSDT", origClientOrderId="to-cancel")
    assert time.perf_counter() - started < 5  # the client gave up; the server let go of the connection
    trader.REQUEST_TIMEOUT = 10
    assert (await trader.get_order(symbol="TESTUSDT", origClientOrderId="to-cancel"))["status"] == "CANCELED"


async def single_connection_ws_api(client: AsyncClient, sim: RunningSimulator) -> WebsocketAPI:
    """A WebSocket-API connection for the user stream that python-binance does not reconnect by itself
    (`MAX_RECONNECTS = 0`): after a drop the client opens a new connection and subscribes again, as a client of
    Binance must (a subscription does not survive its connection)."""
    await client.ws_api.close()
    api = WebsocketAPI(url=sim.ws_api_url)
    api.MAX_RECONNECTS, api.TIMEOUT = 0, 0.5
    client.ws_api = api
    return api


async def test_user_stream_dropped_every_n_events_and_resubscribed(tsim: RunningSimulator, trader: AsyncClient):
    await set_faults(tsim, user_stream_drop_every=2)
    await single_connection_ws_api(trader, tsim)
    sock = BinanceSocketManager(trader).user_socket()
    async with sock:
        await trader.order_market_buy(symbol="TESTUSDT", quantity="1")  # NEW, TRADE, outboundAccountPosition
        first = [await asyncio.wait_for(sock.recv(), 5) for _ in range(3)]
        assert [m.get("x") or m["e"] for m in first] == ["NEW", "TRADE", "error"]  # dropped after two events
        assert tsim.state.user_hub.subscription_count == 0  # the subscription ended with its connection
        sock._subscription_id = None  # nothing left to unsubscribe
    await set_faults(tsim, user_stream_drop_every=0)
    await single_connection_ws_api(trader, tsim)
    async with BinanceSocketManager(trader).user_socket() as again:
        await trader.order_market_buy(symbol="TESTUSDT", quantity="1")
        event = await asyncio.wait_for(again.recv(), 5)
    assert (event["e"], event["x"], event["i"]) == ("executionReport", "NEW", 2)  # the lost position is not resent


async def test_user_streams_dropped_on_command(tsim: RunningSimulator, trader: AsyncClient):
    await single_connection_ws_api(trader, tsim)
    sock = BinanceSocketManager(trader).user_socket()
    async with sock, httpx.AsyncClient(base_url=tsim.base_url) as http:
        assert tsim.state.user_hub.subscription_count == 1
        assert (await http.post("/sim/user-stream/drop")).json() == {"dropped": 1}
        message = await asyncio.wait_for(sock.recv(), 5)
        assert message["e"] == "error"
        assert tsim.state.user_hub.subscription_count == 0
        sock._subscription_id = None
