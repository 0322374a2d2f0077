"""Stream contract: python-binance's BinanceSocketManager (kline_socket, multiplex_socket) against the simulator,
paused at 2021-03-01T00:00Z and moved with POST /sim/advance."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest
import websockets
from binance import AsyncClient

from services.exchange_simulator.testing import RunningSimulator, running_simulator

from .conftest import DAY, HOUR, csv_row, make_settings, quick_close, socket_manager

START = 1_614_556_800_000  # 2021-03-01T00:00Z


async def recv_kline(sock) -> dict:
    """The next kline payload (within 5 s), skipping the error notices python-binance queues on a lost connection."""
    while True:
        msg = await asyncio.wait_for(sock.recv(), 5)
        if msg.get("e") != "error":
            return msg


async def test_daily_kline_socket_sends_in_progress_updates_then_a_final_equal_to_the_csv(
    sim: RunningSimulator, client: AsyncClient, control: httpx.AsyncClient, shared_data: Path
):
    bsm = socket_manager(client, sim)
    async with quick_close(bsm.kline_socket("BTCUSDT", interval="1d")) as sock:
        await control.post("/sim/advance", params={"to": START + DAY})
        events = [await recv_kline(sock) for _ in range(24)]
    assert [e["E"] for e in events] == [START + h * HOUR for h in range(1, 25)]
    assert all(e["e"] == "kline" and e["s"] == "BTCUSDT" and e["k"]["t"] == START for e in events)
    assert [e["k"]["x"] for e in events] == [False] * 23 + [True]
    hourly = await client.get_klines(symbol="BTCUSDT", interval="1h", startTime=START, limit=24)
    assert [e["k"]["c"] for e in events[:23]] == [h[4] for h in hourly[:23]]
    final = events[-1]["k"]
    _, o, h, low, c, v = csv_row(shared_data, "BTCUSDT", START)
    assert (final["o"], final["h"], final["l"], final["c"], final["v"]) == (o, h, low, c, v)
    assert final["T"] == START + DAY - 1


async def test_hourly_kline_socket_sends_each_closed_hour_once(
    sim: RunningSimulator, client: AsyncClient, control: httpx.AsyncClient
):
    async with quick_close(socket_manager(client, sim).kline_socket("ETHUSDT", interval="1h")) as sock:
        await control.post("/sim/advance", params={"ms": 3 * HOUR})
        events = [await recv_kline(sock) for _ in range(3)]
    rest = await client.get_klines(symbol="ETHUSDT", interval="1h", startTime=START)
    assert [(e["k"]["t"], e["k"]["c"], e["k"]["x"]) for e in events] == [(r[0], r[4], True) for r in rest]


async def test_multiplex_socket_wraps_each_payload_with_its_stream_name(
    sim: RunningSimulator, client: AsyncClient, control: httpx.AsyncClient
):
    streams = ["btcusdt@kline_1h", "ethusdt@kline_1d"]
    async with quick_close(socket_manager(client, sim).multiplex_socket(streams)) as sock:
        await control.post("/sim/advance", params={"ms": 2 * HOUR})
        msgs = [await recv_kline(sock) for _ in range(4)]
    assert [m["stream"] for m in msgs] == ["btcusdt@kline_1h", "ethusdt@kline_1d"] * 2
    assert [m["data"]["E"] for m in msgs] == [START + HOUR] * 2 + [START + 2 * HOUR] * 2
    assert msgs[0]["data"]["k"]["i"] == "1h" and msgs[1]["data"]["k"]["i"] == "1d"


async def test_connection_opened_later_gets_no_history(
    sim: RunningSimulator, client: AsyncClient, control: httpx.AsyncClient
):
    await control.post("/sim/advance", params={"ms": 5 * HOUR})
    async with quick_close(socket_manager(client, sim).kline_socket("BTCUSDT", interval="1h")) as sock:
        await control.post("/sim/advance", params={"ms": HOUR})
        first = await recv_kline(sock)
    assert first["E"] == START + 6 * HOUR and first["k"]["t"] == START + 5 * HOUR


async def test_dropped_websocket_is_reconnected_by_python_binance(
    sim: RunningSimulator, client: AsyncClient, control: httpx.AsyncClient
):
    await control.post("/sim/faults", json={"ws_drop_every": 2})
    async with quick_close(socket_manager(client, sim).kline_socket("BTCUSDT", interval="1h")) as sock:
        await control.post("/sim/advance", params={"ms": 2 * HOUR})
        before = [await recv_kline(sock) for _ in range(2)]
        error = await asyncio.wait_for(sock.recv(), 5)
        assert error["e"] == "error"  # python-binance reports the lost connection, then reconnects
        for _ in range(100):  # python-binance waits 1-2 s before reconnecting
            status = (await control.get("/sim/status")).json()
            if [c["id"] for c in status["streams"]["connections"]] == [2]:
                break
            await asyncio.sleep(0.05)
        else:
            pytest.fail("python-binance did not reconnect")
        await control.post("/sim/advance", params={"ms": HOUR})
        after = await recv_kline(sock)
    assert [e["E"] for e in before] == [START + HOUR, START + 2 * HOUR]
    assert after["E"] == START + 3 * HOUR


async def test_live_subscribe_unsubscribe_and_list_on_one_connection(sim: RunningSimulator, control: httpx.AsyncClient):
    async with websockets.connect(f"{sim.stream_url}ws") as ws:
        await ws.send(
            orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@kline_1h", "ethusdt@kline_1h"], "id": 1})
        )
        assert orjson.loads(await ws.recv()) == {"result": None, "id": 1}
        await ws.send(orjson.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@kline_1h"], "id": 2}))
        assert orjson.loads(await ws.recv()) == {"result": None, "id": 2}
        await ws.send(orjson.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 3}))
        assert orjson.loads(await ws.recv()) == {"result": ["btcusdt@kline_1h"], "id": 3}
        await ws.send(orjson.dumps({"method": "SUBSCRIBE", "params": ["btcusdt@trade"], "id": 4}))
        reply = orjson.loads(await ws.recv())
        assert reply["id"] == 4 and reply["error"]["code"] == 2
        await ws.send(b"{not json")
        assert orjson.loads(await ws.recv())["error"]["code"] == 3
        await control.post("/sim/advance", params={"ms": HOUR})
        event = orjson.loads(await asyncio.wait_for(ws.recv(), 5))
        assert event["s"] == "BTCUSDT" and event["k"]["x"] is True


async def test_invalid_stream_name_is_refused_at_the_handshake(sim: RunningSimulator):
    for path in ("ws/btcusdt@trade", "ws/nopeusdt@kline_1d", "stream?streams=btcusdt@kline_1d/btcusdt@kline_5m"):
        with pytest.raises(websockets.InvalidStatus) as exc:
            async with websockets.connect(f"{sim.stream_url}{path}"):
                pass
        assert exc.value.response.status_code == 400


async def test_running_clock_streams_by_itself(shared_data: Path):
    settings = make_settings(shared_data, sim_symbols="BTCUSDT", sim_start="2021-03-01", sim_speed=36_000)
    async with running_simulator(settings) as sim, websockets.connect(f"{sim.stream_url}ws/btcusdt@kline_1h") as ws:
        first = orjson.loads(await asyncio.wait_for(ws.recv(), 3))  # one simulated hour = 0.1 s
        second = orjson.loads(await asyncio.wait_for(ws.recv(), 3))
    assert second["k"]["t"] == first["k"]["t"] + HOUR and first["k"]["x"] is True


async def test_pause_stops_and_resume_restarts_the_clock(shared_data: Path):
    settings = make_settings(shared_data, sim_symbols="BTCUSDT", sim_start="2021-03-01", sim_speed=3_600)
    async with running_simulator(settings) as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        paused = (await http.post("/sim/pause")).json()
        await asyncio.sleep(0.2)
        assert (await http.get("/sim/status")).json()["simTime"] == paused["simTime"]
        assert (await http.post("/sim/resume")).json()["running"] is True
        await asyncio.sleep(0.2)
        assert (await http.get("/sim/status")).json()["simTime"] > paused["simTime"]


async def test_clock_stops_at_sim_end_and_reports_finished(shared_data: Path):
    settings = make_settings(
        shared_data, sim_symbols="BTCUSDT", sim_start="2021-03-01", sim_end=str(START + HOUR), sim_speed=0
    )
    async with running_simulator(settings) as sim, httpx.AsyncClient(base_url=sim.base_url) as http:
        status = (await http.post("/sim/advance", params={"ms": DAY})).json()
    assert status["simTime"] == START + HOUR and status["finished"] is True
