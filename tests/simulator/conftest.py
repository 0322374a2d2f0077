"""Fixtures for the exchange simulator tests: a tiny synthetic data set for unit tests, the shared real data for
contract tests (`shared_data` comes from tests/conftest.py), and an in-process server under uvicorn on a free
loopback port."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import hashlib
import hmac
import json
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from binance import AsyncClient, BinanceSocketManager
from binance.ws.reconnecting_websocket import ReconnectingWebsocket

from binance_tool.config.settings import load_settings
from services.exchange_simulator.app import build_app
from services.exchange_simulator.data import CandleStore
from services.exchange_simulator.settings import DEV_API_KEY, DEV_API_SECRET, SimulatorSettings
from services.exchange_simulator.testing import RunningSimulator, point_client, running_simulator, sync_time

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


# -- trading ---------------------------------------------------------------------------------------------------
# Hourly TESTUSDT candles (open, high, low, close) from DAY0 for the matching tests; later hours drift gently.
TRADING_HOURS: list[tuple[str, str, str, str]] = [
    ("100.00", "101.00", "99.00", "100.50"),  # h0
    ("100.50", "101.00", "100.00", "100.00"),  # h1: last price at DAY0 + 2h = 100
    ("100.00", "102.00", "95.00", "101.00"),  # h2 bullish: path O -> L 95 -> H 102 -> C
    ("101.00", "104.00", "100.50", "103.00"),  # h3
    ("103.00", "103.50", "96.00", "97.00"),  # h4 bearish: path O -> H 103.5 -> L 96 -> C
    ("94.00", "95.00", "93.00", "94.50"),  # h5 gaps down from 97
]


def trading_hours(days: int = 2) -> list[tuple[str, str, str, str]]:
    rows = list(TRADING_HOURS)
    while len(rows) < 24 * days:
        o = float(rows[-1][3])
        rows.append((f"{o:.2f}", f"{o + 1:.2f}", f"{o - 1:.2f}", f"{o + 0.5:.2f}"))
    return rows


def write_trading_dataset(root: Path, symbol: str = "TESTUSDT", days: int = 2) -> Path:
    """`symbol` (synthesized from BTCUSDT: tick 0.01, step 0.0001, MIN_NOTIONAL 10) with `trading_hours()`."""
    (root / "1d").mkdir(parents=True)
    (root / "1h").mkdir()
    hours = trading_hours(days)
    daily = ["open_time,open,high,low,close,volume"]
    hourly = ["open_time,open,high,low,close,volume"]
    for i, (o, h, low, c) in enumerate(hours):
        hourly.append(f"{DAY0 + i * HOUR},{o},{h},{low},{c},2.5")
    for d in range(days):
        day = hours[24 * d : 24 * (d + 1)]
        high = max((r[1] for r in day), key=float)
        low = min((r[2] for r in day), key=float)
        daily.append(f"{DAY0 + d * DAY},{day[0][0]},{high},{low},{day[-1][3]},60")
    (root / "1d" / f"{symbol}.csv").write_text("\n".join(daily) + "\n")
    (root / "1h" / f"{symbol}.csv.gz").write_bytes(gzip.compress(("\n".join(hourly) + "\n").encode()))
    _write_snapshot(root)
    return root


@contextlib.asynccontextmanager
async def trading_simulator(data_dir: Path, **overrides: object) -> AsyncIterator[RunningSimulator]:
    """The real app on `data_dir`, paused at DAY0 + 2h (TESTUSDT's last price 100), USDT=10000 and TEST=10."""
    values: dict[str, object] = {"sim_start": str(DAY0 + 2 * HOUR), "sim_balances": "USDT=10000,TEST=10"}
    values.update(overrides)
    async with running_simulator(make_settings(data_dir, **values)) as running:
        yield running


@contextlib.asynccontextmanager
async def signed_client(sim: RunningSimulator) -> AsyncIterator[AsyncClient]:
    """The real python-binance AsyncClient with the simulator's dev key, pointed at it and time-synced."""
    client = AsyncClient(DEV_API_KEY, DEV_API_SECRET)
    try:
        await point_client(client, sim)
        client.ws_api.TIMEOUT = 0.5  # python-binance polls its read loop every TIMEOUT s: closing waits that long
        yield client
    finally:
        await client.close_connection()


@pytest.fixture
def trading_data(tmp_path: Path) -> Path:
    return write_trading_dataset(tmp_path / "trading")


@pytest.fixture
async def tsim(trading_data: Path) -> AsyncIterator[RunningSimulator]:
    async with trading_simulator(trading_data) as running:
        yield running


@pytest.fixture
async def trader(tsim: RunningSimulator) -> AsyncIterator[AsyncClient]:
    async with signed_client(tsim) as c:
        yield c


async def advance(sim: RunningSimulator, client: AsyncClient | None = None, **params: object) -> dict:
    """POST /sim/advance (`ms=` or `to=`), then re-sync the client's timestamp offset to the moved clock."""
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        status = (await http.post("/sim/advance", params=params)).raise_for_status().json()
    if client is not None:
        await sync_time(client)
    return status


async def set_faults(sim: RunningSimulator, **values: object) -> dict:
    async with httpx.AsyncClient(base_url=sim.base_url) as http:
        return (await http.post("/sim/faults", json=values)).raise_for_status().json()


def sign(params: dict[str, object], secret: str = DEV_API_SECRET) -> str:
    """`params` as a query string with its HMAC-SHA256 `signature` appended (as Binance documents)."""
    query = urlencode(params)
    return f"{query}&signature={hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()}"


async def eventually(check: Callable[[], Awaitable[bool]], within_s: float = 5.0, poll_s: float = 0.02) -> None:
    """Poll `check` until it is true (TimeoutError after `within_s` seconds)."""
    async with asyncio.timeout(within_s):
        while True:
            if await check():
                return
            await asyncio.sleep(poll_s)
