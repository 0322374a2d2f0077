from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.health import Health
from binance_tool.trading import SymbolFilters
from services.trade_abstraction.app import Principal, TasDeps, build_app
from services.trade_abstraction.executor import SpotExecutor
from services.trade_abstraction.protector import Protector
from services.trade_abstraction.store import InMemoryTradeStore

D = Decimal
SIZER = "sizer-token-0123456789"
OPERATOR = "operator-token-0123456789"
T0 = 1_700_000_000_000

BTC = SymbolFilters(
    "BTCUSDT",
    tick_size=D("0.01"),
    min_price=D("0.01"),
    step_size=D("0.001"),
    min_qty=D("0.001"),
    min_notional=D(10),
    base_asset="BTC",
    quote_asset="USDT",
)


@dataclass
class Tas:
    http: httpx.AsyncClient
    exchange: FakeSpotExchange
    store: InMemoryTradeStore
    bus: InMemoryBus
    clock: FixedClock
    protector: Protector

    async def post(self, path: str, body: dict, token: str = SIZER, key: str | None = None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {token}"}
        if key:
            headers["Idempotency-Key"] = key
        return await self.http.post(path, json=body, headers=headers)

    async def long(self, signal: str = "sig-1", qty: str = "1", price: str = "100", **kw) -> httpx.Response:
        body = {"edge": "edge70", "symbol": "BTCUSDT", "signal_id": signal, "signal_price": price, "quantity": qty}
        return await self.post("/spot/long", body, **kw)


@pytest.fixture
async def tas():
    exchange = FakeSpotExchange([BTC], balances={"USDT": 10_000}, prices={"BTCUSDT": 100}, now_ms=T0)
    store = InMemoryTradeStore()
    bus = InMemoryBus()
    await bus.connect()
    clock = FixedClock(T0)
    executor = SpotExecutor(exchange, exchange, store, clock, "USDT", entry_timeout_ms=86_400_000)
    tokens = {SIZER: Principal("sizer", "sizer"), OPERATOR: Principal("operator", "operator")}
    health = Health(ready=True)
    app = build_app(TasDeps(executor, bus, clock, tokens, health))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://tas") as http:
        yield Tas(http, exchange, store, bus, clock, Protector(executor, exchange, 1.0))
    await exchange.close()
