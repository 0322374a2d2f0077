"""The venues the execution contract runs against: the in-memory `FakeSpotExchange` and `BinanceSpot` pointed at
the exchange simulator (served in-process on a free port, paused at 2021-03-01T00:00Z, BTCUSDT and ETHUSDT, the
account funded with USDT and BTC).  Each venue says how to cause the faults the contract covers."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr

from binance_tool.config.settings import ExchangeKind, ExchangeSettings
from binance_tool.exchange.binance_execution import BinanceSpot
from binance_tool.exchange.execution import UserEvent, client_order_id
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.trading.filters import filters_from_exchange_info

START = "2021-03-01"
SYMBOL, OTHER = "BTCUSDT", "ETHUSDT"
FUNDS = {"USDT": Decimal(10_000), "BTC": Decimal(1)}
FEE_RATE = Decimal("0.001")
SIM_MISSING = (
    "the simulator has no signed POST /api/v3/order yet (trading API being added in services/exchange_simulator)"
)


async def eventually(condition: Callable[[], bool], within_s: float = 10.0) -> None:
    """Poll `condition` until it holds (TimeoutError after `within_s`)."""
    async with asyncio.timeout(within_s):
        while True:
            if condition():
                return
            await asyncio.sleep(0.01)


def new_id(leg: str = "entry") -> str:
    return client_order_id("ct", uuid.uuid4().hex, leg)


@dataclass
class Venue:
    """An exchange behind the port plus the controls a test needs that the port does not have."""

    name: str
    exchange: Any  # SpotExecution & AccountData
    lose_next_reply: Callable[[], Awaitable[None]]  # the next order call is executed, its answer lost
    exhaust_rate_limit: Callable[[float], Awaitable[None]]  # the next order call meets 429s past the retries
    subscriptions: Callable[[], int]
    events: list[UserEvent] = field(default_factory=list)
    _task: asyncio.Task[None] | None = None

    async def start_stream(self, within_s: float = 10.0) -> None:
        """Consume `user_events()` into `events` and wait until the subscription is in place."""
        before = self.subscriptions()

        async def consume() -> None:
            async for event in self.exchange.user_events():
                self.events.append(event)

        self._task = asyncio.create_task(consume())
        await eventually(lambda: self.subscriptions() > before, within_s)

    async def wait_events(self, predicate: Callable[[list[UserEvent]], bool], within_s: float = 10.0) -> None:
        await eventually(lambda: predicate(self.events), within_s)

    async def stop(self) -> None:
        await self.exchange.close()
        if self._task is not None:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(self._task, 10)


def _snapshot_filters(shared: Path) -> list[Any]:
    info = json.loads((shared / "exchange_info_2021-03-24.json").read_text())
    return list(filters_from_exchange_info(info, [SYMBOL, OTHER]).values())


@contextlib.asynccontextmanager
async def fake_venue(shared: Path) -> AsyncIterator[Venue]:
    fake = FakeSpotExchange(
        _snapshot_filters(shared),
        balances=FUNDS,
        prices={SYMBOL: Decimal("45134.11"), OTHER: Decimal("1416.16")},
        fee_rate=FEE_RATE,
    )

    async def lose_next_reply() -> None:
        fake.fail_next_with_unknown(placed=True)

    async def exhaust(retry_after_s: float) -> None:
        fake.rate_limit_next(retry_after_s)

    venue = Venue("fake", fake, lose_next_reply, exhaust, lambda: fake.user_stream_subscriptions)
    try:
        yield venue
    finally:
        await venue.stop()


@contextlib.asynccontextmanager
async def simulator_venue(shared: Path) -> AsyncIterator[Venue]:
    from services.exchange_simulator import settings as sim_settings
    from services.exchange_simulator.app import build_app
    from services.exchange_simulator.testing import running_simulator
    from tests.simulator.conftest import make_settings

    settings = make_settings(
        shared,
        sim_symbols=f"{SYMBOL},{OTHER}",
        sim_start=START,
        sim_balances=",".join(f"{a}={v}" for a, v in FUNDS.items()),
        sim_fee_rate=str(FEE_RATE),
    )
    async with (
        running_simulator(settings, build_app(settings)) as sim,
        httpx.AsyncClient(base_url=sim.base_url) as control,
    ):
        if (await control.post("/api/v3/order")).status_code == 404:  # Binance answers unknown paths 404
            pytest.skip(SIM_MISSING)
        exchange_settings = ExchangeSettings(
            exchange=ExchangeKind.SIMULATOR,
            simulator_url=sim.base_url,
            binance_api_key=SecretStr(sim_settings.DEV_API_KEY),
            binance_api_secret=SecretStr(sim_settings.DEV_API_SECRET),
            binance_request_timeout_s=3.0,
        )
        spot = BinanceSpot(exchange_settings, rate_limit_retries=1, max_wait_s=5.0)

        async def faults(**values: object) -> None:
            (await control.post("/sim/faults", json=values)).raise_for_status()

        async def lose_next_reply() -> None:
            await faults(reply_lost_next=1, reply_lost_mode="close")

        async def exhaust(retry_after_s: float) -> None:
            await faults(order_429_next=2, retry_after_s=int(retry_after_s))

        venue = Venue("simulator", spot, lose_next_reply, exhaust, lambda: spot.user_stream_subscriptions)
        try:
            yield venue
        finally:
            await venue.stop()


VENUES = {"fake": fake_venue, "simulator": simulator_venue}


@pytest.fixture(params=list(VENUES))
async def venue(request: pytest.FixtureRequest, shared_data: Path) -> AsyncIterator[Venue]:
    async with VENUES[request.param](shared_data) as v:
        yield v
