"""Fixtures for the exchange simulator tests: a tiny synthetic data set for unit tests, the shared real data for
contract tests (`shared_data` comes from tests/conftest.py), and an in-process server under uvicorn on a free
loopback port."""

from __future__ import annotations

import gzip
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.ws.reconnecting_websocket import ReconnectingWebsocket

from binance_tool.config.settings import load_settings
from services.exchange_simulator.app import build_app
from services.exchange_simulator.data import CandleStore
from services.exchange_simulator.settings import SimulatorSettings
from services.exchange_simulator.testing import RunningSimulator, running_simulator

SHARED_DATA = Path(os.environ.get("SHARED_DATA_DIR", Path(__file__).resolve().parents[3] / "shared/data/binance-spot"))
HOUR = 3_600_000
DAY = 86_400_000
DAY0 = 1_546_300_800_000  # 2019-01-01T00:00Z


def hourly_rows(day_open: int, hours: int, base: float = 100.0) -> list[str]:
    """Hour h: open base+h, high base+h+2 (peak at hour 5: +50), low base+h-1 (trough at hour 3: -20), close base+h+1,
    volume 1.5."""
    rows = []
    for h in range(hours):
        o = base + h
        high = o + (50 if h == 5 else 2)
        low = o - (20 if h == 3 else 1)
        rows.append(f"{day_open + h * HOUR},{o:.2f},{high:.2f},{low:.2f},{o + 1:.2f},1.5")
    return rows


def write_dataset(root: Path, symbols: tuple[str, ...] = ("TESTUSDT",), days: int = 3) -> Path:
    """`days` daily candles from DAY0 plus their hourly candles (24 per day) per symbol; exchange info with BTCUSDT
    as the only snapshot symbol (so the test symbols are synthesized)."""
    (root / "1d").mkdir(parents=True)
    (root / "1h").mkdir()
    for symbol in symbols:
        _write_symbol(root, symbol, days)
    _write_snapshot(root)
    return root


def _write_symbol(root: Path, symbol: str, days: int) -> None:
    daily = ["open_time,open,high,low,close,volume"]
    hourly = ["open_time,open,high,low,close,volume"]
    for d in range(days):
        day_open = DAY0 + d * DAY
        base = 100.0 + 1000 * d
        hourly += hourly_rows(day_open, 24, base)
        # the daily file's values deliberately differ from the hourly aggregate: closed days must come from it
        daily.append(f"{day_open},{base:.2f},{base + 99:.2f},{base - 50:.2f},{base + 42:.2f},123.456")
    (root / "1d" / f"{symbol}.csv").write_text("\n".join(daily) + "\n")
    (root / "1h" / f"{symbol}.csv.gz").write_bytes(gzip.compress(("\n".join(hourly) + "\n").encode()))


def _write_snapshot(root: Path) -> None:
    snapshot = json.loads((SHARED_DATA / "exchange_info_2021-03-24.json").read_text()) if SHARED_DATA.is_dir() else None
    template = (
        next(s for s in snapshot["symbols"] if s["symbol"] == "BTCUSDT")
        if snapshot
        else {
            "symbol": "BTCUSDT",
            "status": "TRADING",
            "baseAsset": "BTC",
            "quoteAsset": "USDT",
            "permissions": ["SPOT"],
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": "0.01", "maxPrice": "1000000", "tickSize": "0.01"},
                {"filterType": "LOT_SIZE", "minQty": "0.000001", "maxQty": "9000", "stepSize": "0.000001"},
                {"filterType": "MARKET_LOT_SIZE", "minQty": "0", "maxQty": "100", "stepSize": "0"},
            ],
        }
    )
    info = {"timezone": "UTC", "serverTime": 0, "rateLimits": [], "exchangeFilters": [], "symbols": [template]}
    (root / "exchange_info_2021-03-24.json").write_text(json.dumps(info))


@pytest.fixture
def dataset(tmp_path: Path) -> Path:
    return write_dataset(tmp_path / "data")


_STORES: dict[tuple[str, str], CandleStore] = {}  # loaded candles shared by the tests' apps (read-only)


def make_settings(data_dir: Path, **overrides: object) -> SimulatorSettings:
    values: dict[str, object] = {"sim_data_dir": data_dir, "sim_speed": 0, "sim_port": 0, "sim_preload_hourly": False}
    values.update(overrides)
    return load_settings(SimulatorSettings, **values)


@pytest.fixture
async def sim(shared_data: Path) -> AsyncIterator[RunningSimulator]:
    """The real app on real data (BTCUSDT, ETHUSDT, APEUSDT), paused at 2021-03-01T00:00Z."""
    settings = make_settings(shared_data, sim_symbols="BTCUSDT,ETHUSDT,APEUSDT", sim_start="2021-03-01")
    key = (str(shared_data), "BTCUSDT,ETHUSDT,APEUSDT")
    store = _STORES.get(key) or _STORES.setdefault(key, CandleStore(shared_data, ["BTCUSDT", "ETHUSDT", "APEUSDT"]))
    async with running_simulator(settings, build_app(settings, store=store)) as running:
        yield running


@pytest.fixture
async def synthetic_sim(dataset: Path) -> AsyncIterator[RunningSimulator]:
    """The real app on the synthetic TESTUSDT data set, paused at DAY0."""
    async with running_simulator(make_settings(dataset, sim_start=str(DAY0))) as running:
        yield running


@pytest.fixture
async def client(sim: RunningSimulator) -> AsyncIterator[AsyncClient]:
    """The real python-binance AsyncClient, only its base URL pointed at the simulator."""
    c = AsyncClient("test-key", "test-secret")
    c.API_URL = sim.api_url
    yield c
    await c.close_connection()


@pytest.fixture
async def control(sim: RunningSimulator) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        yield http


def socket_manager(client: AsyncClient, sim: RunningSimulator) -> BinanceSocketManager:
    bsm = BinanceSocketManager(client)
    bsm.STREAM_URL = sim.stream_url
    return bsm


def quick_close(sock: ReconnectingWebsocket) -> ReconnectingWebsocket:
    """python-binance's read loop polls every TIMEOUT (10 s) and only then notices an exit; shorten it so leaving
    `async with` is quick.  Nothing else about the client changes."""
    sock.TIMEOUT = 0.2
    return sock


def csv_row(data_dir: Path, symbol: str, open_time: int) -> list[str]:
    for line in (data_dir / "1d" / f"{symbol}.csv").read_text().splitlines()[1:]:
        fields = line.split(",")
        if int(fields[0]) == open_time:
            return fields
    raise AssertionError(f"{symbol} has no daily row at {open_time}")
