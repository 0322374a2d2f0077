"""`binance-tool portfolio` and `positions` against a running simulator and TAS (both real, on loopback)."""

from __future__ import annotations

from pathlib import Path

import httpx
from typer.testing import CliRunner

from binance_tool.clock import SystemClock
from binance_tool.config import load_settings
from binance_tool.config.settings import ExchangeSettings
from binance_tool.exchange.binance_execution import BinanceSpot
from binance_tool.health import Health
from cli.main import build
from services.exchange_simulator.app import build_app as build_sim
from services.trade_abstraction.app import Principal, TasDeps, build_app
from services.trade_abstraction.executor import SpotExecutor
from services.trade_abstraction.store import InMemoryTradeStore
from tests.servers import serving_in_thread
from tests.simulator.conftest import make_settings

TOKEN = "cli-operator-token-0123456789"


def test_portfolio_and_positions_show_the_account_and_the_tas_trades(shared_data: Path, tmp_path: Path):
    sim_settings = make_settings(shared_data, sim_symbols="BTCUSDT", sim_start="2021-03-01", sim_balances="USDT=5000")
    with serving_in_thread(build_sim(sim_settings)) as sim_url:
        exchange = BinanceSpot(load_settings(ExchangeSettings, exchange="simulator", simulator_url=sim_url))
        executor = SpotExecutor(exchange, exchange, InMemoryTradeStore(), SystemClock())
        tokens = {TOKEN: Principal("op", "sizer")}
        tas_app = build_app(TasDeps(executor, None, SystemClock(), tokens, Health(ready=True)))
        with serving_in_thread(tas_app) as tas_url:
            body = {
                "edge": "edge70",
                "symbol": "BTCUSDT",
                "signal_id": "cli",
                "signal_price": "30000",
                "quantity": "0.01",
            }
            entered = httpx.post(f"{tas_url}/spot/long", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
            assert entered.status_code == 201, entered.text
            env = tmp_path / "cluster.env"
            env.write_text(f"EXCHANGE=simulator\nSIMULATOR_URL={sim_url}\nTAS_URL={tas_url}\nTAS_TOKEN={TOKEN}\n")
            runner = CliRunner()
            shown = runner.invoke(build("portfolio"), ["portfolio", "--env-file", str(env)], env={"COLUMNS": "200"})
            assert shown.exit_code == 0, shown.output
            assert "USDT" in shown.output and "5,000.00" in shown.output  # the working buy locks USDT, value unchanged
            listed = runner.invoke(build("positions"), ["positions", "--env-file", str(env)], env={"COLUMNS": "200"})
            assert listed.exit_code == 0, listed.output
            assert "BTCUSDT" in listed.output and "ENTERING" in listed.output
            missing = runner.invoke(build("positions"), ["positions", "--env-file", str(tmp_path / "nope.env")])
            assert missing.exit_code == 2
