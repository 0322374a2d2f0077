"""Run the simulator in-process for tests: `async with running_simulator(settings) as sim:` serves the real app
under uvicorn on a free loopback port; point python-binance at `sim.api_url` / `sim.stream_url`."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass

import uvicorn
from fastapi import FastAPI

from services.exchange_simulator.app import build_app
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
    def state(self) -> SimState:
        state: SimState = self.app.state.sim
        return state


@contextlib.asynccontextmanager
async def running_simulator(settings: SimulatorSettings, app: FastAPI | None = None) -> AsyncIterator[RunningSimulator]:
    app = app or build_app(settings)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
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
