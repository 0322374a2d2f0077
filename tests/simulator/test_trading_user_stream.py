"""The user data stream over the WebSocket API at /ws-api/v3: python-binance's `BinanceSocketManager.user_socket()`
(`userDataStream.subscribe.signature`, events routed by subscriptionId) and the raw protocol (`session.logon` +
`userDataStream.subscribe`, `unsubscribe`, `ping`, `time`, errors), events in Binance's format."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
from typing import Any

import httpx
import orjson
import websockets
from binance import AsyncClient, BinanceSocketManager

from services.exchange_simulator.settings import DEV_API_KEY, DEV_API_SECRET
from services.exchange_simulator.testing import RunningSimulator

from .conftest import DAY0, HOUR, advance, eventually

T2 = DAY0 + 2 * HOUR
EXECUTION_REPORT_KEYS = ["e", "E", "s", "c", "S", "o", "f", "q", "p", "P", "F", "g", "C", "x", "X", "r", "i", "l", "z"]
EXECUTION_REPORT_KEYS += ["L", "n", "N", "T", "t", "I", "w", "m", "M", "O", "Z", "Y", "Q", "W", "V"]


async def next_event(sock, kind: str | None = None) -> dict[str, Any]:
    while True:
        msg = await asyncio.wait_for(sock.recv(), 5)
        if kind is None or msg.get("e") == kind:
            return msg


async def test_user_socket_receives_execution_reports_and_account_positions(tsim, trader: AsyncClient):
    async with BinanceSocketManager(trader).user_socket() as sock:
        placed = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="98", newClientOrderId="ur-1")
        new = await next_event(sock)
        assert list(new) == EXECUTION_REPORT_KEYS
        assert {k: new[k] for k in ("e", "E", "s", "c", "S", "o", "f", "q", "p", "x", "X", "i", "w", "O", "W")} == {
            "e": "executionReport",
            "E": T2,
            "s": "TESTUSDT",
            "c": "ur-1",
            "S": "BUY",
            "o": "LIMIT",
            "f": "GTC",
            "q": "1.00000000",
            "p": "98.00000000",
            "x": "NEW",
            "X": "NEW",
            "i": placed["orderId"],
            "w": True,
            "O": T2,
            "W": T2,
        }
        assert (new["C"], new["r"], new["t"], new["n"], new["N"], new["g"]) == ("", "NONE", -1, "0", None, -1)
        position = await next_event(sock)
        assert position == {
            "e": "outboundAccountPosition",
            "E": T2,
            "u": T2,
            "B": [{"a": "USDT", "f": "9902.00000000", "l": "98.00000000"}],
        }
        await advance(tsim, trader, ms=HOUR)
        trade = await next_event(sock)
        assert (trade["x"], trade["X"], trade["l"], trade["L"], trade["z"], trade["Z"], trade["Y"]) == (
            "TRADE",
            "FILLED",
            "1.00000000",
            "98.00000000",
            "1.00000000",
            "98.00000000",
            "98.00000000",
        )
        assert (trade["n"], trade["N"], trade["t"], trade["m"], trade["w"], trade["E"], trade["T"]) == (
            "0.00100000",
            "TEST",
            1,
            True,
            False,
            T2 + HOUR,
            T2 + HOUR,
        )
        after = await next_event(sock)
        assert after["B"] == [
            {"a": "TEST", "f": "10.99900000", "l": "0.00000000"},
            {"a": "USDT", "f": "9902.00000000", "l": "0.00000000"},
        ]
        await trader.order_limit_sell(symbol="TESTUSDT", quantity="1", price="150", newClientOrderId="ur-2")
        await trader.cancel_order(symbol="TESTUSDT", origClientOrderId="ur-2", newClientOrderId="ur-2-cancel")
        canceled = await next_event(sock, "executionReport")
        while canceled["x"] != "CANCELED":
            canceled = await next_event(sock, "executionReport")
        assert (canceled["c"], canceled["C"], canceled["X"], canceled["w"]) == (
            "ur-2-cancel",
            "ur-2",
            "CANCELED",
            False,
        )
    assert tsim.state.user_hub.subscription_count == 0  # python-binance unsubscribed on leaving


async def test_stop_trigger_is_reported_as_a_working_order(tsim, trader: AsyncClient):
    async with BinanceSocketManager(trader).user_socket() as sock:
        await trader.create_order(
            symbol="TESTUSDT",
            side="SELL",
            type="STOP_LOSS_LIMIT",
            timeInForce="GTC",
            quantity="1",
            price="99",
            stopPrice="96",
        )
        new = await next_event(sock, "executionReport")
        assert (new["x"], new["w"], new["P"], "W" in new) == ("NEW", False, "96.00000000", False)
        await advance(tsim, trader, ms=HOUR)  # h2 falls to 95: triggered at 96 (below the 99 limit: rests)
        triggered = await next_event(sock, "executionReport")
        assert (triggered["x"], triggered["X"], triggered["w"], triggered["W"]) == ("NEW", "NEW", True, T2 + HOUR)
        filled = await next_event(sock, "executionReport")  # ... and climbs back to 102 through the limit
        assert (filled["x"], filled["L"], filled["m"]) == ("TRADE", "99.00000000", True)


async def test_deposit_sends_balance_update(tsim, trader: AsyncClient):
    async with BinanceSocketManager(trader).user_socket() as sock, httpx.AsyncClient(base_url=tsim.base_url) as http:
        r = await http.post("/sim/balance", params={"asset": "BTC", "delta": "0.5"})
        assert r.status_code == 200
        assert await next_event(sock) == {"e": "balanceUpdate", "E": T2, "a": "BTC", "d": "0.50000000", "T": T2}
        assert (await next_event(sock))["B"] == [{"a": "BTC", "f": "0.50000000", "l": "0.00000000"}]
    assert await trader.get_asset_balance("BTC") == {"asset": "BTC", "free": "0.50000000", "locked": "0.00000000"}


def signed_params(timestamp: int, secret: str = DEV_API_SECRET, **extra: object) -> dict[str, object]:
    params: dict[str, object] = {"apiKey": DEV_API_KEY, "timestamp": timestamp, **extra}
    payload = "&".join(f"{k}={v}" for k, v in sorted(params.items()))
    return params | {"signature": hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()}


class Raw:
    def __init__(self, ws) -> None:
        self.ws = ws
        self.n = 0

    async def call(self, method: str, **params: object) -> dict[str, Any]:
        self.n += 1
        msg: dict[str, Any] = {"id": f"r{self.n}", "method": method}
        if params:
            msg["params"] = params
        await self.ws.send(orjson.dumps(msg).decode())
        while True:
            reply = orjson.loads(await asyncio.wait_for(self.ws.recv(), 5))
            if reply.get("id") == f"r{self.n}":
                return reply

    async def event(self) -> dict[str, Any]:
        return orjson.loads(await asyncio.wait_for(self.ws.recv(), 5))


async def test_raw_protocol_logon_subscribe_unsubscribe(tsim: RunningSimulator, trader: AsyncClient):
    async with websockets.connect(tsim.ws_api_url) as ws:
        raw = Raw(ws)
        pong = await raw.call("ping")
        assert (pong["status"], pong["result"], pong["rateLimits"][0]["rateLimitType"]) == (200, {}, "REQUEST_WEIGHT")
        assert (await raw.call("time"))["result"] == {"serverTime": T2}
        refused = await raw.call("userDataStream.subscribe")
        assert (refused["status"], refused["error"]["code"]) == (401, -1002)
        bad = await raw.call("session.logon", **signed_params(T2, secret="wrong"))
        assert (bad["status"], bad["error"]) == (
            400,
            {"code": -1022, "msg": "Signature for this request is not valid."},
        )
        stale = await raw.call("session.logon", **signed_params(T2 - 60_000))
        assert stale["error"]["code"] == -1021
        logon = await raw.call("session.logon", **signed_params(T2))
        assert logon["result"]["apiKey"] == DEV_API_KEY and logon["result"]["userDataStream"] is False
        sub = await raw.call("userDataStream.subscribe")
        sid = sub["result"]["subscriptionId"]
        assert (await raw.call("session.subscriptions"))["result"] == [{"subscriptionId": sid}]
        assert (await raw.call("userDataStream.subscribe"))["status"] == 400  # one subscription per connection
        await trader.order_market_buy(symbol="TESTUSDT", quantity="1")
        events = [await raw.event() for _ in range(3)]
        assert [(e["subscriptionId"], e["event"]["e"]) for e in events] == [
            (sid, "executionReport"),
            (sid, "executionReport"),
            (sid, "outboundAccountPosition"),
        ]
        assert [e["event"].get("x") for e in events[:2]] == ["NEW", "TRADE"]
        done = await raw.call("userDataStream.unsubscribe", subscriptionId=sid)
        assert (done["status"], done["result"]) == (200, {})
        assert await raw.event() == {"subscriptionId": sid, "event": {"e": "eventStreamTerminated", "E": T2}}
        unknown = await raw.call("order.place", symbol="TESTUSDT")
        assert (unknown["status"], unknown["error"]["code"]) == (400, -1020)


async def test_signature_subscription_on_an_unauthenticated_connection(tsim: RunningSimulator):
    async with websockets.connect(tsim.ws_api_url) as ws:
        raw = Raw(ws)
        wrong_key = await raw.call("userDataStream.subscribe.signature", **(signed_params(T2) | {"apiKey": "B" * 64}))
        assert (wrong_key["status"], wrong_key["error"]["code"]) == (401, -2015)
        ok = await raw.call("userDataStream.subscribe.signature", **signed_params(T2, recvWindow=5000))
        assert ok["status"] == 200 and isinstance(ok["result"]["subscriptionId"], int)
        assert (await raw.call("session.status"))["result"]["apiKey"] is None  # no logon: only the subscription
        await ws.send("not json")
        garbage = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert (garbage["id"], garbage["status"], garbage["error"]["code"]) == (None, 400, -1135)

    async def gone() -> bool:  # the subscription ends with its connection
        return not tsim.state.user_hub.connections

    await eventually(gone)
