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
            shown = runner.invoke(
                build("portfolio"),
                ["portfolio", "--env-file", str(env), "--source", "exchange"],
                env={"COLUMNS": "200"},
            )
            assert shown.exit_code == 0, shown.output
            assert "USDT" in shown.output and "5,000.00" in shown.output  # the working buy locks USDT, value unchanged
            listed = runner.invoke(
                build("positions"), ["positions", "--env-file", str(env), "--source", "tas"], env={"COLUMNS": "200"}
            )
            assert listed.exit_code == 0, listed.output
            assert "BTCUSDT" in listed.output and "ENTERING" in listed.output
            missing = runner.invoke(
                build("positions"), ["positions", "--env-file", str(tmp_path / "nope.env"), "--source", "tas"]
            )
            assert missing.exit_code == 2


async def _write_tracker_state(redis_url: str, account: str) -> None:
    from decimal import Decimal as D

    from redis.asyncio import Redis

    from binance_tool.bus.memory import InMemoryBus
    from binance_tool.clock import FixedClock
    from binance_tool.events import AccountBalancesUpdated, BalanceEntry
    from binance_tool.exchange.fake_execution import FakeSpotExchange
    from binance_tool.trading.filters import SymbolFilters
    from services.trackers.filters import StaticFilters
    from services.trackers.portfolio_store import RedisPortfolioStore
    from services.trackers.portfolio_tracker import PortfolioTracker
    from services.trackers.service import TrackersService
    from services.trackers.store import RedisTrackerStore
    from tests.unit.services.test_trackers import order_reports

    redis = Redis.from_url(redis_url)
    bus = InMemoryBus()
    await bus.connect()
    btc = SymbolFilters("BTCUSDT", step_size=D("0.00001"), min_qty=D("0.00001"), min_notional=D("5"),
                        base_asset="BTC", quote_asset="USDT")  # fmt: skip
    service = TrackersService(bus, RedisTrackerStore(redis), StaticFilters({"BTCUSDT": btc}), FixedClock(1))
    for report in order_reports(1, "BUY", [(11, "0.5", "20000")], 1_000, account=account):
        await service.on_execution_report(report)
    exchange = FakeSpotExchange([btc], prices={"BTCUSDT": D("22000")}, now_ms=1_700_000_000_000)
    portfolio = PortfolioTracker(bus, RedisPortfolioStore(redis), exchange, FixedClock(2))
    entries = (BalanceEntry(asset="BTC", free=D("0.5"), locked=D(0)), BalanceEntry(asset="USDT", free=D("90"),
               locked=D(0)))  # fmt: skip
    eid = AccountBalancesUpdated.id_for("binance", account, 1_000, entries)
    await portfolio.on_balances(AccountBalancesUpdated(
        event_id=eid, correlation_id=eid, ts_event_ms=1, ts_init_ms=1, account=account, source="stream",
        update_time_ms=1_000, balances=entries))  # fmt: skip
    await portfolio.refresh_prices(account)
    await redis.aclose()


def test_portfolio_and_positions_from_the_trackers_state_in_redis(redis_url: str, tmp_path: Path):
    import asyncio
    import uuid

    account = f"cli-{uuid.uuid4().hex[:8]}"
    asyncio.run(_write_tracker_state(redis_url, account))
    env = tmp_path / "cluster.env"
    env.write_text(f"REDIS_URL={redis_url}\n")
    runner = CliRunner()
    args = ["--env-file", str(env), "--account", account]
    shown = runner.invoke(build("portfolio"), ["portfolio", *args], env={"COLUMNS": "200"})
    assert shown.exit_code == 0, shown.output
    assert "11,090.00 USDT" in shown.output and "11,090.00 USD (peg)" in shown.output  # 0.5 × 22000 + 90
    listed = runner.invoke(build("positions"), ["positions", *args], env={"COLUMNS": "200"})
    assert listed.exit_code == 0, listed.output
    assert "BTCUSDT" in listed.output and "edge70" in listed.output and "990.00 (+9.9 %)" in listed.output
    nobody = runner.invoke(build("portfolio"), ["portfolio", "--env-file", str(env), "--account", "nobody-x"])
    assert nobody.exit_code == 1 and "is bt-trackers running" in nobody.output
