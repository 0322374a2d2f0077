"""Entry point `bt-exchange-simulator`: read settings, configure logging, build the app, serve it with uvicorn."""

from __future__ import annotations

import uvicorn

from binance_tool.config import ObservabilitySettings
from binance_tool.config.settings import load_settings
from binance_tool.observability import configure_logging
from services.exchange_simulator.app import build_app
from services.exchange_simulator.data import DataError
from services.exchange_simulator.settings import SimulatorSettings

__all__ = ["build_app", "run"]


def run() -> None:
    settings = load_settings(SimulatorSettings)
    observability = load_settings(ObservabilitySettings)
    log = configure_logging("exchange-simulator", observability)
    try:
        app = build_app(settings)
    except (DataError, OSError, KeyError, ValueError) as err:
        log.error("simulator_data_invalid", error=str(err))
        raise SystemExit(f"SIM_DATA_DIR: unusable candle data: {err}") from None
    log.info("simulator_listening", host=settings.sim_host, port=settings.sim_port)
    uvicorn.run(app, host=settings.sim_host, port=settings.sim_port, log_config=None, access_log=False)


if __name__ == "__main__":
    run()
