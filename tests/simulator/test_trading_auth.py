"""Signed endpoints: API key, timestamp window on the simulated clock, signature and parameter errors exactly as
Binance answers them, with the real python-binance AsyncClient (and raw HTTP where the client cannot misbehave)."""

from __future__ import annotations

import hashlib
import hmac
import time

import httpx
import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from services.exchange_simulator.settings import DEV_API_KEY, DEV_API_SECRET
from services.exchange_simulator.testing import RunningSimulator, point_client

from .conftest import DAY0, HOUR, advance, sign

NOW = DAY0 + 2 * HOUR


async def api_error(call) -> BinanceAPIException:
    with pytest.raises(BinanceAPIException) as exc:
        await call
    return exc.value


async def test_signed_client_reads_the_account_with_the_dev_key(trader: AsyncClient):
    account = await trader.get_account()
    assert account["accountType"] == "SPOT" and account["canTrade"] and account["permissions"] == ["SPOT"]
    assert account["commissionRates"]["taker"] == "0.00100000" and account["takerCommission"] == 10
    assert {b["asset"]: b["free"] for b in account["balances"]} == {"TEST": "10.00000000", "USDT": "10000.00000000"}
    assert await trader.get_asset_balance("USDT") == {"asset": "USDT", "free": "10000.00000000", "locked": "0.00000000"}


async def test_wrong_secret_is_invalid_signature_1022(tsim: RunningSimulator):
    client = await point_client(AsyncClient(DEV_API_KEY, "not-the-secret"), tsim)
    try:
        err = await api_error(client.get_account())
    finally:
        await client.close_connection()
    assert (err.status_code, err.code, err.message) == (400, -1022, "Signature for this request is not valid.")


@pytest.mark.parametrize(
    ("key", "code"),
    [("A" * 64, -2015), ("not a key!", -2014), ("", -2014)],
)
async def test_bad_api_key_is_401_with_2014_or_2015(tsim: RunningSimulator, key: str, code: int):
    client = await point_client(AsyncClient(key or None, "secret"), tsim)
    try:
        err = await api_error(client.get_open_orders(symbol="TESTUSDT"))
    finally:
        await client.close_connection()
    assert (err.status_code, err.code) == (401, code)
    rejected = "Invalid API-key, IP, or permissions for action."
    assert err.message == (rejected if code == -2015 else "API-key format invalid.")


async def test_timestamp_must_be_within_recv_window_of_the_simulated_clock(tsim: RunningSimulator, trader: AsyncClient):
    trader.timestamp_offset = 0  # the machine's clock, years after the replayed 2019
    err = await api_error(trader.get_account())
    assert (err.code, err.message) == (-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    await advance(tsim, ms=HOUR)  # the clock jumps: an offset synced before is an hour behind
    trader.timestamp_offset = NOW - int(time.time() * 1000)
    err = await api_error(trader.get_account())
    assert (err.code, err.message) == (-1021, "Timestamp for this request is outside of the recvWindow.")


async def test_raw_requests_report_missing_and_malformed_security_parameters(tsim: RunningSimulator):
    headers = {"X-MBX-APIKEY": DEV_API_KEY}
    async with httpx.AsyncClient(base_url=tsim.base_url, headers=headers) as http:
        no_sig = await http.get("/api/v3/account", params={"timestamp": NOW})
        assert no_sig.json() == {
            "code": -1102,
            "msg": "Mandatory parameter 'signature' was not sent, was empty/null, or malformed.",
        }
        no_ts = await http.get("/api/v3/account?" + sign({"recvWindow": 5000}))
        assert no_ts.json()["code"] == -1102 and "'timestamp'" in no_ts.json()["msg"]
        bad_ts = await http.get("/api/v3/account?" + sign({"timestamp": "soon"}))
        assert bad_ts.json()["code"] == -1100
        window = await http.get("/api/v3/account?" + sign({"timestamp": NOW, "recvWindow": 60001}))
        assert window.json() == {"code": -1131, "msg": "recvWindow must be less than 60000"}
        extra = await http.get("/api/v3/account?" + sign({"timestamp": NOW, "colour": "blue"}))
        assert extra.json() == {
            "code": -1104,
            "msg": "Not all sent parameters were read; read '2' parameter(s) but was sent '3'.",
        }
        no_key = await http.get("/api/v3/account?" + sign({"timestamp": NOW}), headers={"X-MBX-APIKEY": ""})
        assert (no_key.status_code, no_key.json()["code"]) == (401, -2014)


async def test_signature_over_query_string_and_body_together(tsim: RunningSimulator):
    """Binance signs `totalParams` = query string + body; parameters may be split between them."""
    async with httpx.AsyncClient(base_url=tsim.base_url, headers={"X-MBX-APIKEY": DEV_API_KEY}) as http:
        query = "symbol=TESTUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
        body = f"quantity=1&price=90&newClientOrderId=split-1&timestamp={NOW}"
        sig = hmac.new(DEV_API_SECRET.encode(), (query + body).encode(), hashlib.sha256).hexdigest()
        r = await http.post(
            f"/api/v3/order?{query}",
            content=f"{body}&signature={sig.upper()}",  # the signature is not case sensitive
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert r.status_code == 200, r.text
        assert r.json()["clientOrderId"] == "split-1" and r.json()["status"] == "NEW"
        assert r.headers["X-MBX-ORDER-COUNT-10S"] == "1" and r.headers["X-MBX-ORDER-COUNT-1D"] == "1"
        assert int(r.headers["X-MBX-USED-WEIGHT-1M"]) >= 1
