"""REST contract: the real python-binance AsyncClient against the simulator (paused at 2021-03-01T00:00Z)."""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest
from binance import AsyncClient
from binance.exceptions import BinanceAPIException

from services.exchange_simulator.testing import RunningSimulator

from .conftest import DAY, HOUR, csv_row

START = 1_614_556_800_000  # 2021-03-01T00:00Z


async def test_server_time_is_the_simulated_clock(client: AsyncClient, control: httpx.AsyncClient):
    assert await client.ping() == {}
    assert await client.get_server_time() == {"serverTime": START}
    await control.post("/sim/advance", params={"ms": 90 * 60_000})
    assert (await client.get_server_time())["serverTime"] == START + 90 * 60_000


async def test_closed_daily_klines_equal_the_daily_csv_rows(client: AsyncClient, shared_data: Path):
    rows = await client.get_klines(symbol="BTCUSDT", interval="1d", startTime=START - 3 * DAY, endTime=START - DAY)
    assert [r[0] for r in rows] == [START - 3 * DAY, START - 2 * DAY, START - DAY]
    for r in rows:
        assert r[:6] == [r[0], *csv_row(shared_data, "BTCUSDT", r[0])[1:]]
        assert r[6] == r[0] + DAY - 1 and len(r) == 12 and r[8] == 0
        assert all(isinstance(v, str) for v in (*r[1:6], r[7], r[9], r[10], r[11]))


async def test_klines_without_start_return_the_latest_up_to_now_including_the_open_day(
    client: AsyncClient, control: httpx.AsyncClient
):
    await control.post("/sim/advance", params={"ms": 3 * HOUR + 1})
    daily = await client.get_klines(symbol="BTCUSDT", interval="1d", limit=3)
    assert [r[0] for r in daily] == [START - 2 * DAY, START - DAY, START]
    hourly = await client.get_klines(symbol="BTCUSDT", interval="1h", startTime=START)
    assert [r[0] for r in hourly] == [START, START + HOUR, START + 2 * HOUR]  # the open hour is not known yet
    today = daily[-1]
    assert today[1] == hourly[0][1] and today[4] == hourly[-1][4]
    assert today[2] == max((h[2] for h in hourly), key=float) and today[3] == min((h[3] for h in hourly), key=float)


async def test_candles_after_the_simulated_now_do_not_exist(client: AsyncClient):
    rows = await client.get_klines(symbol="ETHUSDT", interval="1h", startTime=START, endTime=START + 10 * DAY)
    assert rows == []
    future = await client.get_klines(symbol="ETHUSDT", interval="1d", startTime=START + DAY)
    assert future == []


async def test_klines_limit_and_start_select_a_window(client: AsyncClient):
    rows = await client.get_klines(symbol="ETHUSDT", interval="1h", startTime=START - 10 * HOUR, limit=4)
    assert [r[0] for r in rows] == [START - 10 * HOUR + i * HOUR for i in range(4)]
    assert len(await client.get_klines(symbol="ETHUSDT", interval="1h")) == 500
    assert len(await client.get_klines(symbol="ETHUSDT", interval="1h", limit=1000)) == 1000


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"symbol": "NOPEUSDT", "interval": "1d"}, -1121),
        ({"symbol": "BTCUSDT", "interval": "7d"}, -1120),
        ({"symbol": "BTCUSDT", "interval": "1m"}, -1120),  # valid on Binance, not simulated
        ({"symbol": "BTCUSDT", "interval": "1d", "limit": 1001}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1d", "startTime": "soon"}, -1100),
        ({"symbol": "BTCUSDT", "interval": "1d", "startTime": 2, "endTime": 1}, -1023),
    ],
)
async def test_bad_klines_request_raises_binance_api_exception(client: AsyncClient, params: dict, code: int):
    with pytest.raises(BinanceAPIException) as exc:
        await client.get_klines(**params)
    assert exc.value.code == code and exc.value.status_code == 400


async def test_missing_mandatory_parameter_is_error_1102(control: httpx.AsyncClient):
    r = await control.get("/api/v3/klines", params={"interval": "1d"})
    assert r.status_code == 400
    assert r.json() == {
        "code": -1102,
        "msg": "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed.",
    }


async def test_invalid_symbol_body_is_binance_shaped(control: httpx.AsyncClient):
    r = await control.get("/api/v3/klines", params={"symbol": "NOPEUSDT", "interval": "1d"})
    assert (r.status_code, r.json()) == (400, {"code": -1121, "msg": "Invalid symbol."})


async def test_exchange_info_lists_served_symbols_at_simulated_server_time(client: AsyncClient):
    info = await client.get_exchange_info()
    assert info["serverTime"] == START
    assert {s["symbol"] for s in info["symbols"]} == {"BTCUSDT", "ETHUSDT", "APEUSDT"}
    assert any(r["rateLimitType"] == "REQUEST_WEIGHT" for r in info["rateLimits"])
    ape = await client.get_symbol_info("APEUSDT")
    assert ape is not None and ape["status"] == "TRADING"
    assert {f["filterType"] for f in ape["filters"]} >= {"PRICE_FILTER", "LOT_SIZE", "MIN_NOTIONAL"}


async def test_exchange_info_filters_by_symbol_and_symbols(control: httpx.AsyncClient):
    one = (await control.get("/api/v3/exchangeInfo", params={"symbol": "ETHUSDT"})).json()
    assert [s["symbol"] for s in one["symbols"]] == ["ETHUSDT"]
    two = (await control.get("/api/v3/exchangeInfo", params={"symbols": '["BTCUSDT","APEUSDT"]'})).json()
    assert {s["symbol"] for s in two["symbols"]} == {"BTCUSDT", "APEUSDT"}
    bad = await control.get("/api/v3/exchangeInfo", params={"symbol": "NOPEUSDT"})
    assert (bad.status_code, bad.json()["code"]) == (400, -1121)


async def test_symbol_ticker_is_the_last_closed_hourly_close(client: AsyncClient, shared_data: Path):
    ticker = await client.get_symbol_ticker(symbol="BTCUSDT")
    last_hour = await client.get_klines(symbol="BTCUSDT", interval="1h", limit=1)
    assert ticker == {"symbol": "BTCUSDT", "price": last_hour[0][4]}
    assert ticker["price"] == csv_row(shared_data, "BTCUSDT", START - DAY)[4]  # the day's last hour closes it
    everything = await client.get_symbol_ticker()
    assert {t["symbol"] for t in everything} == {"BTCUSDT", "ETHUSDT"}  # APEUSDT is not listed yet in 2021


async def test_responses_carry_the_used_weight_header(control: httpx.AsyncClient):
    first = await control.get("/api/v3/ping")
    second = await control.get("/api/v3/exchangeInfo")
    assert int(second.headers["X-MBX-USED-WEIGHT-1M"]) == int(first.headers["X-MBX-USED-WEIGHT-1M"]) + 20


async def test_unknown_path_is_404(control: httpx.AsyncClient):
    assert (await control.get("/api/v3/nothingHere")).status_code == 404


async def test_every_nth_request_gets_429_with_retry_after(client: AsyncClient, control: httpx.AsyncClient):
    r = await control.post("/sim/faults", json={"http_429_every": 2, "retry_after_s": 7})
    assert r.json()["http_429_every"] == 2
    await client.ping()
    with pytest.raises(BinanceAPIException) as exc:
        await client.ping()
    assert (exc.value.status_code, exc.value.code) == (429, -1003)
    assert exc.value.response.headers["Retry-After"] == "7"
    assert "Too many requests" in exc.value.message
    await client.ping()
    raw = await control.get("/api/v3/time")
    assert raw.status_code == 429 and raw.headers["Retry-After"] == "7"


async def test_delay_fault_slows_every_rest_response(client: AsyncClient, control: httpx.AsyncClient):
    await control.post("/sim/faults", json={"delay_ms": 300})
    started = time.perf_counter()
    await client.get_server_time()
    assert time.perf_counter() - started >= 0.3
    await control.post("/sim/faults", json={"delay_ms": 0})


async def test_status_reports_clock_symbols_and_faults(sim: RunningSimulator, control: httpx.AsyncClient):
    status = (await control.get("/sim/status")).json()
    assert status["simTime"] == START and status["speed"] == 0 and not status["finished"]
    assert status["symbols"] == ["APEUSDT", "BTCUSDT", "ETHUSDT"] and status["synthesizedSymbols"] == ["APEUSDT"]
    assert status["faults"]["ws_drop_every"] == 0
    backwards = await control.post("/sim/advance", params={"to": START - 1})
    assert backwards.status_code == 400
