"""`binance-tool check-positions` against a running simulator (real, on loopback) and positions the real trackers
wrote to Redis for this run's own account: exit 0 when all match, 1 with a table of the mismatches, 2 on bad
settings, 3 when the exchange cannot be read."""

from __future__ import annotations

import asyncio
import socket
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from redis.asyncio import Redis
from typer.testing import CliRunner

from binance_tool.clock import SystemClock
from binance_tool.config import load_settings
from binance_tool.config.settings import ExchangeSettings
from binance_tool.events import Envelope
from binance_tool.exchange.binance_execution import BinanceSpot
from binance_tool.exchange.execution import OrderOutcome, OrderRequest, OrderType, Side, TimeInForce, client_order_id
from cli.main import build
from services.exchange_simulator.app import build_app as build_sim
from services.order_ingestion.reports import Origin, in_exchange_order, order_report, trade_reports
from services.trackers.filters import ExchangeFilters
from services.trackers.service import TrackersService
from services.trackers.store import RedisTrackerStore
from tests.servers import serving_in_thread
from tests.simulator.conftest import make_settings


class _Sink:
    async def publish(self, event: Envelope) -> None:
        pass

    async def publish_many(self, events) -> None:
        pass


async def _enter_and_track(sim_url: str, redis_url: str, account: str, run: str) -> None:
    """An edge70 market buy and its stop on the simulator, tracked by the real trackers into Redis."""
    async with BinanceSpot(load_settings(ExchangeSettings, exchange="simulator", simulator_url=sim_url)) as ex:
        filters = (await ex.symbol_filters(["BTCUSDT"]))["BTCUSDT"]
        price = (await ex.prices(["BTCUSDT"]))["BTCUSDT"]
        entry = await ex.place_order(
            OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"), client_order_id("edge70", run, "e"))
        )
        held = (await ex.balances())["BTC"].total
        stop_price = filters.price_down(price / 2)
        stop = await ex.place_order(
            OrderRequest("BTCUSDT", Side.SELL, OrderType.STOP_LOSS_LIMIT, filters.quantity_down(held),
                         client_order_id("edge70", run, "s1"), filters.price_down(stop_price * Decimal("0.99")),
                         stop_price, TimeInForce.GTC)
        )  # fmt: skip
        assert entry.outcome is stop.outcome is OrderOutcome.ACCEPTED
        origin, now = Origin("binance", account), SystemClock().now_ms()
        orders = {o.order_id: o for o in await ex.all_orders("BTCUSDT")}
        reports = [r for o in orders.values() if (r := order_report(o, origin, now)) is not None]
        reports += trade_reports(await ex.my_trades("BTCUSDT"), orders, origin, now)
        redis = Redis.from_url(redis_url)
        try:
            trackers = TrackersService(_Sink(), RedisTrackerStore(redis), ExchangeFilters(ex), SystemClock())
            for report in in_exchange_order(reports):
                await trackers.on_execution_report(report)
        finally:
            await redis.aclose()


async def _manual_buy(sim_url: str) -> None:
    async with BinanceSpot(load_settings(ExchangeSettings, exchange="simulator", simulator_url=sim_url)) as ex:
        bought = await ex.place_order(OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.005"), "by-hand"))
        assert bought.outcome is OrderOutcome.ACCEPTED


async def _forget(redis_url: str, account: str) -> None:
    redis = Redis.from_url(redis_url)
    try:
        for pattern in (f"positions:{account}:*", f"orders:{account}:*", f"orders-index:{account}:*"):
            async for key in redis.scan_iter(match=pattern):
                await redis.delete(key)
        await redis.delete(f"positions-index:{account}")
    finally:
        await redis.aclose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_check_positions_reports_matches_mismatches_and_bad_settings(
    shared_data: Path, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    run = uuid.uuid4().hex[:8]
    account = f"cli-{run}"
    sim_settings = make_settings(shared_data, sim_symbols="BTCUSDT", sim_start="2021-03-01", sim_balances="USDT=5000")
    runner = CliRunner()
    cli = build("check-positions")
    with serving_in_thread(build_sim(sim_settings)) as sim_url:
        env = {"EXCHANGE": "simulator", "SIMULATOR_URL": sim_url, "REDIS_URL": redis_url, "CHECKER_ACCOUNT": account}
        for name, value in env.items():  # the command also sets them from the file; monkeypatch restores them
            monkeypatch.setenv(name, value)
        env_file = tmp_path / "cluster.env"
        env_file.write_text("".join(f"{k}={v}\n" for k, v in env.items()))
        args = ["check-positions", "--env-file", str(env_file)]
        try:
            asyncio.run(_enter_and_track(sim_url, redis_url, account, run))
            matched = runner.invoke(cli, args, env={"COLUMNS": "200"})
            assert matched.exit_code == 0, matched.output
            assert "all positions match the exchange" in matched.output and "1 open positions" in matched.output

            asyncio.run(_manual_buy(sim_url))
            found = runner.invoke(cli, args, env={"COLUMNS": "250"})
            assert found.exit_code == 1, found.output
            assert "balance_without_position" in found.output and "0.004995" in found.output  # 0.005 less the fee

            other = runner.invoke(cli, [*args, "--account", f"{account}-none"], env={"COLUMNS": "250"})
            assert other.exit_code == 1  # nothing tracked for that account: the whole BTC balance is in no position

            monkeypatch.setenv("CHECKER_TOLERANCE_QUOTE", "-1")
            bad = runner.invoke(cli, args)
            assert bad.exit_code == 2 and "CHECKER_TOLERANCE_QUOTE" in bad.output
            monkeypatch.delenv("CHECKER_TOLERANCE_QUOTE")

            monkeypatch.setenv("SIMULATOR_URL", f"http://127.0.0.1:{_free_port()}")
            monkeypatch.setenv("BINANCE_REQUEST_TIMEOUT_S", "1")
            down = runner.invoke(cli, args)
            assert down.exit_code == 3 and "could not read" in down.output
        finally:
            asyncio.run(_forget(redis_url, account))
