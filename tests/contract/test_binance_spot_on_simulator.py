"""BinanceSpot against the exchange simulator's fault injection: what only the real adapter does (back-off on 429
without ever earning the 418, clock resync on -1021, a held reply timing out, re-subscribing the user stream after
a drop, adopting the exchange's weight counts).  The answers the simulator cannot give are in
tests/unit/exchange/test_binance_spot_outcomes.py (a scripted local server)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
from pydantic import SecretStr

from binance_tool.config.settings import ExchangeKind, ExchangeSettings
from binance_tool.exchange.binance_execution import BinanceSpot
from binance_tool.exchange.execution import ExecutionReport, OrderOutcome, OrderRequest, OrderType, Side
from binance_tool.exchange.execution_support import resolve_unknown

from .conftest import FUNDS, SIM_MISSING, START, SYMBOL, eventually, new_id

D = Decimal
DAY = 86_400_000


@dataclass
class Sim:
    control: httpx.AsyncClient
    settings: ExchangeSettings

    async def faults(self, **values: object) -> dict[str, object]:
        response = await self.control.post("/sim/faults", json=values)
        response.raise_for_status()
        body: dict[str, object] = response.json()
        return body


@pytest.fixture
async def sim(shared_data: Path) -> AsyncIterator[Sim]:
    from services.exchange_simulator import settings as sim_settings
    from services.exchange_simulator.app import build_app
    from services.exchange_simulator.testing import running_simulator
    from tests.simulator.conftest import make_settings

    settings = make_settings(
        shared_data,
        sim_symbols=SYMBOL,
        sim_start=START,
        sim_balances=",".join(f"{a}={v}" for a, v in FUNDS.items()),
    )
    async with (
        running_simulator(settings, build_app(settings)) as running,
        httpx.AsyncClient(base_url=running.base_url) as control,
    ):
        if (await control.post("/api/v3/order")).status_code == 404:
            pytest.skip(SIM_MISSING)
        yield Sim(
            control,
            ExchangeSettings(
                exchange=ExchangeKind.SIMULATOR,
                simulator_url=running.base_url,
                binance_api_key=SecretStr(sim_settings.DEV_API_KEY),
                binance_api_secret=SecretStr(sim_settings.DEV_API_SECRET),
                binance_request_timeout_s=3.0,
            ),
        )


async def resting_buy(spot: BinanceSpot) -> OrderRequest:
    price = ((await spot.prices([SYMBOL]))[SYMBOL] / 2).quantize(D("0.01"))
    return OrderRequest(SYMBOL, Side.BUY, OrderType.LIMIT, D("0.001"), new_id(), price=price)


async def test_after_a_429_the_adapter_waits_retry_after_and_is_never_banned(sim: Sim):
    async with BinanceSpot(sim.settings, max_wait_s=5) as spot:
        request = await resting_buy(spot)
        await sim.faults(order_429_next=1, retry_after_s=1, order_ban_s=120)
        started = time.monotonic()
        result = await spot.place_order(request)
        assert result.outcome is OrderOutcome.ACCEPTED
        assert time.monotonic() - started >= 1.0
        assert (await sim.faults())["banned"] is False


async def test_a_caller_retrying_at_once_after_a_rate_limited_rejection_is_held_back_not_banned(sim: Sim):
    async with BinanceSpot(sim.settings, max_wait_s=0.5, rate_limit_retries=0) as spot:
        request = await resting_buy(spot)
        await sim.faults(order_429_next=1, retry_after_s=2, order_ban_s=120)
        first = await spot.place_order(request)
        assert (first.outcome, first.rate_limited, first.retry_after_s) == (OrderOutcome.REJECTED, True, 2)
        again = await spot.place_order(request)  # the adapter refuses to send before Retry-After
        assert (again.outcome, again.rate_limited) == (OrderOutcome.DENIED, True)
        assert (await sim.faults())["banned"] is False


async def test_a_timestamp_outside_the_recv_window_is_resynced_and_the_order_sent_again(sim: Sim):
    async with BinanceSpot(sim.settings) as spot:
        request = await resting_buy(spot)
        old_offset = await spot.sync_time()
        (await sim.control.post("/sim/advance", params={"to": str(_start_ms() + DAY)})).raise_for_status()
        result = await spot.place_order(request)  # signed a day behind the simulated clock: -1021, resync, retry
        assert result.outcome is OrderOutcome.ACCEPTED
        assert spot.rest.timestamp_offset - old_offset >= DAY - 5_000


async def test_a_held_reply_times_out_as_unknown_and_the_order_is_found_by_its_client_id(sim: Sim):
    settings = sim.settings.model_copy(update={"binance_request_timeout_s": 0.5})
    async with BinanceSpot(settings) as spot:
        request = await resting_buy(spot)
        await spot.sync_time()
        await sim.faults(reply_lost_next=1, reply_lost_mode="hold", reply_lost_hold_s=5)
        result = await spot.place_order(request)
        assert result.outcome is OrderOutcome.UNKNOWN
        resolved = await resolve_unknown(spot, SYMBOL, request.client_order_id, attempts=3, delay_s=0.1)
        assert resolved.outcome is OrderOutcome.ACCEPTED and resolved.order.order_id > 0


async def test_a_dropped_user_stream_is_resubscribed_and_the_gap_reported(sim: Sim):
    gaps: list[int] = []

    async def on_gap() -> None:
        gaps.append(spot.user_stream_subscriptions)

    async with BinanceSpot(sim.settings, on_stream_gap=on_gap) as spot:
        events: list[ExecutionReport] = []

        async def consume() -> None:
            async for event in spot.user_events():
                if isinstance(event, ExecutionReport):
                    events.append(event)

        task = asyncio.create_task(consume())
        await eventually(lambda: spot.user_stream_subscriptions == 1)
        (await sim.control.post("/sim/user-stream/drop")).raise_for_status()
        await eventually(lambda: spot.user_stream_subscriptions == 2)
        request = await resting_buy(spot)
        await spot.place_order(request)
        await eventually(lambda: any(e.client_order_id == request.client_order_id for e in events))
        assert gaps == [2]
    await asyncio.wait_for(task, 10)  # close() ends the stream


async def test_the_exchanges_weight_header_is_adopted(sim: Sim):
    async with BinanceSpot(sim.settings) as spot:
        await spot.symbol_filters()
        await spot.balances()
        used = (await sim.control.get("/sim/status")).json()["usedWeight1m"]
        booked = int(spot.limits.snapshot()["windows"]["REQUEST_WEIGHT/1M"].split("/")[0])
        assert booked >= used - 1  # the status call itself is not an /api request


async def test_reads_ride_out_a_429_transparently(sim: Sim):
    async with BinanceSpot(sim.settings) as spot:
        await sim.faults(http_429_every=1, retry_after_s=1)
        task = asyncio.create_task(spot.balances())
        await asyncio.sleep(0.3)
        await sim.faults(http_429_every=0)
        assert (await asyncio.wait_for(task, 10))["USDT"].free == FUNDS["USDT"]


def _start_ms() -> int:
    from services.exchange_simulator.settings import parse_time_ms

    return parse_time_ms(START)
