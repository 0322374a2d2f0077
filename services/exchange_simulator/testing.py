"""Run the simulator in-process for tests: `async with running_simulator(settings) as sim:` serves the real app
under uvicorn on a free loopback port; point python-binance at `sim.api_url` / `sim.stream_url` / `sim.ws_api_url`
(`point_client` does all three for a signed client)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from binance import AsyncClient
from binance.ws.websocket_api import WebsocketAPI
from fastapi import FastAPI

from services.exchange_simulator.app import build_app
from services.exchange_simulator.main import bind_socket
from services.exchange_simulator.settings import SimulatorSettings
from services.exchange_simulator.state import SimState


@dataclass(frozen=True)
class RunningSimulator:
    app: FastAPI
    port: int

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        """For `AsyncClient.API_URL`."""
        return f"{self.base_url}/api"

    @property
    def stream_url(self) -> str:
        """For `BinanceSocketManager.STREAM_URL`."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def ws_api_url(self) -> str:
        """For python-binance's `WebsocketAPI(url=...)` (`AsyncClient.ws_api`, used by `user_socket()`)."""
        return f"ws://127.0.0.1:{self.port}/ws-api/v3"

    @property
    def state(self) -> SimState:
        state: SimState = self.app.state.sim
        return state


@contextlib.asynccontextmanager
async def running_simulator(settings: SimulatorSettings, app: FastAPI | None = None) -> AsyncIterator[RunningSimulator]:
    app = app or build_app(settings)
    sock = bind_socket("127.0.0.1", 0)
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on", ws_ping_interval=None)
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        while not server.started:
            if task.done():
                task.result()
                raise RuntimeError("simulator server stopped during start-up")
            await asyncio.sleep(0.01)
        yield RunningSimulator(app, port)
    finally:
        server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(task, timeout=5)
        sock.close()


async def point_client(client: AsyncClient, sim: RunningSimulator) -> AsyncClient:
    """Point a python-binance client at the simulator: REST base URL, a WebSocket API connection to its
    `/ws-api/v3` (python-binance builds `client.ws_api` in the constructor from the class attribute `WS_API_URL`, so
    it is replaced), and `timestamp_offset` synced to the simulated clock (what `AsyncClient.create()` does)."""
    client.API_URL = sim.api_url
    await client.ws_api.close()
    client.ws_api = WebsocketAPI(url=sim.ws_api_url)
    return await sync_time(client)


async def sync_time(client: AsyncClient) -> AsyncClient:
    """Set `timestamp_offset` from `GET /api/v3/time` (needed again after the simulated clock jumps)."""
    server = (await client.get_server_time())["serverTime"]
    client.timestamp_offset = server - int(time.time() * 1000)
    return client
