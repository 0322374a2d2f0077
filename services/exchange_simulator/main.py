"""Entry point `bt-exchange-simulator`: read settings, configure logging, build the app, serve it with uvicorn."""

from __future__ import annotations

import socket

import uvicorn

from binance_tool.config import ObservabilitySettings
from binance_tool.config.settings import load_settings
from binance_tool.observability import configure_logging
from services.exchange_simulator.app import build_app
from services.exchange_simulator.data import DataError
from services.exchange_simulator.settings import SimulatorSettings

__all__ = ["bind_socket", "build_app", "run"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening TCP socket with TCP_NODELAY (inherited by the accepted connections on Linux): uvicorn writes a
    response's head and body separately, and with Nagle's algorithm the body waits for the client's delayed ACK,
    about 40 ms per request."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def run() -> None:
    settings = load_settings(SimulatorSettings)
    observability = load_settings(ObservabilitySettings)
    log = configure_logging("exchange-simulator", observability)
    try:
        app = build_app(settings)
    except (DataError, OSError, KeyError, ValueError) as err:
        log.error("simulator_data_invalid", error=str(err))
        raise SystemExit(f"SIM_DATA_DIR: unusable candle data: {err}") from None
    sock = bind_socket(settings.sim_host, settings.sim_port)
    log.info("simulator_listening", host=settings.sim_host, port=sock.getsockname()[1])
    config = uvicorn.Config(app, log_config=None, access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


if __name__ == "__main__":
    run()
