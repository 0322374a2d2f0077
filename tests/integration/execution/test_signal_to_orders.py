"""The whole execution path on real RabbitMQ and Redis against the exchange simulator (real python-binance
adapter): Edge70Signal → position-sizer (EntrySized) → Trade Abstraction Service over HTTP → entry order, fill
along the replayed path, stop on the fill; a duplicate or repeated signal places nothing twice; a short signal
closes the position."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import uuid
from collections.abc import AsyncIterator
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import uvicorn

from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Subscription
from binance_tool.config import BusSettings, load_settings
from binance_tool.events import (
    Direction,
    Edge70Signal,
    EntrySized,
    Envelope,
    TradeResult,
)
from binance_tool.exchange.execution import OrderType, client_order_id
from cli.resets import reset_bus_and_state
from services.exchange_simulator import settings as sim_settings
from services.exchange_simulator.testing import running_simulator
from services.position_sizer import main as sizer_main
from services.position_sizer.settings import SizerSettings
from services.position_sizer.subscriptions import sizer_signals
from services.trade_abstraction import main as tas_main
from services.trade_abstraction.settings import TasSettings
from tests.builders import edge70_signal
from tests.simulator.conftest import make_settings

pytestmark = pytest.mark.integration
TOKEN = "integration-sizer-token-0123456789"
START = "2021-03-01"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(predicate, within_s: float = 20.0, every_s: float = 0.05):
    async with asyncio.timeout(within_s):
        while True:
            value = await predicate()
            if value:
                return value
            await asyncio.sleep(every_s)


@contextlib.asynccontextmanager
async def cluster(shared_data: Path, amqp_url: str, redis_url: str) -> AsyncIterator[dict]:
    await reset_bus_and_state(amqp_url, redis_url)
    sim_conf = make_settings(shared_data, sim_symbols="BTCUSDT,ETHUSDT", sim_start=START, sim_balances="USDT=10000")
    async with running_simulator(sim_conf) as sim:
        common = {
            "amqp_url": amqp_url,
            "redis_url": redis_url,
            "exchange": "simulator",
            "simulator_url": sim.base_url,
            "binance_api_key": sim_settings.DEV_API_KEY,
            "binance_api_secret": sim_settings.DEV_API_SECRET,
        }
        port = free_port()
        tas_conf = load_settings(
            TasSettings, **common, tas_tokens=f"sizer={TOKEN}", tas_port=port, tas_sweep_interval_s=0.2
        )
        tas = await tas_main.build(tas_conf)
        server = uvicorn.Server(uvicorn.Config(tas.app, host="127.0.0.1", port=port, log_config=None))
        stop = asyncio.Event()
        tasks = [asyncio.create_task(server.serve()), asyncio.create_task(tas.protector.run_sweeps(stop))]
        await eventually(lambda: asyncio.sleep(0, server.started), within_s=10, every_s=0.01)
        sizer = await sizer_main.build(
            load_settings(SizerSettings, **common, tas_url=f"http://127.0.0.1:{port}", tas_token=TOKEN)
        )
        subscription = sizer_signals()
        await sizer.bus.declare([subscription])
        await sizer.start()
        consumer = await sizer.bus.consume(subscription, sizer.service.on_signal)
        observer_bus = AmqpBus(load_settings(BusSettings, amqp_url=amqp_url), None, "observer")
        await observer_bus.connect()
        seen: list[Envelope] = []
        watch = Subscription(
            queue=f"test.execution-observer.{uuid.uuid4().hex[:8]}",
            bindings=(Binding(EntrySized.EXCHANGE, "#"),),
            accepts=(EntrySized, TradeResult),
            dedup=False,
            extra_arguments={"x-expires": 60_000},  # this run's own queue, gone a minute after the test
        )
        await observer_bus.declare([watch])

        async def record(event: Envelope, _delivery) -> None:
            seen.append(event)

        observer = await observer_bus.consume(watch, record)
        async with httpx.AsyncClient(base_url=sim.base_url) as control:
            try:
                yield {"sim": sim, "tas": tas, "bus": observer_bus, "seen": seen, "control": control}
            finally:
                await observer.stop()
                await consumer.stop()
                await observer_bus.close()
                await sizer.aclose()
                stop.set()
                server.should_exit = True
                await asyncio.wait(tasks, timeout=10)
                await tas.aclose()


def signal(symbol: str, direction: Direction, price: Decimal, n: int = 0) -> Edge70Signal:
    return edge70_signal(symbol, direction, price, uuid.uuid5(uuid.NAMESPACE_OID, f"it-{symbol}-{direction}-{n}"))


async def test_a_signal_becomes_a_sized_entry_then_a_stop_and_a_short_closes_it(shared_data, amqp_url, redis_url):
    async with cluster(shared_data, amqp_url, redis_url) as c:
        exchange = c["tas"].executor.ex
        price = (await exchange.prices(["BTCUSDT"]))["BTCUSDT"]
        long = signal("BTCUSDT", Direction.LONG, price)
        await c["bus"].publish(long)
        await c["bus"].publish(long)  # a duplicate delivery: deduplicated by event id
        entry_id = client_order_id("edge70", str(long.event_id), "entry")

        async def entered():
            return [e for e in c["seen"] if isinstance(e, TradeResult) and e.action == "long"]

        (result,) = await eventually(entered)
        assert result.status == "ENTERED", result.msg
        (sized,) = {e.event_id: e for e in c["seen"] if isinstance(e, EntrySized)}.values()  # at-least-once delivery
        assert sized.accepted and sized.binding == "RISK_PER_TRADE" and sized.correlation_id == long.event_id
        order = await exchange.get_order("BTCUSDT", entry_id)
        assert order is not None and order.orig_qty == sized.quantity and order.price == sized.limit_price

        await c["bus"].publish(signal("BTCUSDT", Direction.LONG, price, n=1))  # a second, different long signal

        async def refused():
            return [e for e in c["seen"] if isinstance(e, EntrySized) and not e.accepted]

        (second,) = await eventually(refused)
        assert second.binding == "ALREADY_IN_POSITION"

        # the replay moves on: the limit fills on the next hourly candle, the protector puts the stop on it
        (await c["control"].post("/sim/advance", params={"ms": 3 * 3_600_000})).raise_for_status()

        async def stop_order():
            orders = await exchange.open_orders("BTCUSDT")
            return [o for o in orders if o.type is OrderType.STOP_LOSS_LIMIT]

        (stop,) = await eventually(stop_order)
        filled = await exchange.get_order("BTCUSDT", entry_id)
        assert filled is not None and filled.executed_qty > 0
        assert stop.stop_price <= filled.average_price * Decimal("0.85") + Decimal("0.01")
        entries = [o for o in await exchange.all_orders("BTCUSDT") if o.type is OrderType.LIMIT]
        assert len(entries) == 1

        await c["bus"].publish(signal("BTCUSDT", Direction.SHORT, price))

        async def closed():
            return [e for e in c["seen"] if isinstance(e, TradeResult) and e.action == "close"]

        (close,) = await eventually(closed)
        assert close.status == "CLOSED", close.msg
        assert await exchange.open_orders("BTCUSDT") == []
        btc = (await exchange.balances()).get("BTC")
        assert btc is None or btc.total * price < 10  # sold, at most dust below the lot step


async def entries(exchange, symbol: str) -> list:
    return [o for o in await exchange.all_orders(symbol) if o.type is OrderType.LIMIT]


async def test_a_lost_reply_on_the_entry_still_yields_exactly_one_order(shared_data, amqp_url, redis_url):
    async with cluster(shared_data, amqp_url, redis_url) as c:
        exchange = c["tas"].executor.ex
        price = (await exchange.prices(["ETHUSDT"]))["ETHUSDT"]
        # the simulator places the next order but closes the connection instead of answering
        faults = {"reply_lost_next": 1, "reply_lost_mode": "close"}
        (await c["control"].post("/sim/faults", json=faults)).raise_for_status()
        long = signal("ETHUSDT", Direction.LONG, price, n=7)
        await c["bus"].publish(long)

        async def result():
            return [e for e in c["seen"] if isinstance(e, TradeResult) and e.action == "long"]

        (answer,) = await eventually(result)
        assert answer.status == "ENTERED", answer.msg  # resolved by querying the client order id
        assert len(await entries(exchange, "ETHUSDT")) == 1


async def test_rate_limited_order_calls_back_off_and_then_succeed(shared_data, amqp_url, redis_url):
    async with cluster(shared_data, amqp_url, redis_url) as c:
        exchange = c["tas"].executor.ex
        price = (await exchange.prices(["ETHUSDT"]))["ETHUSDT"]
        faults = {"order_429_next": 1, "retry_after_s": 1}
        (await c["control"].post("/sim/faults", json=faults)).raise_for_status()
        await c["bus"].publish(signal("ETHUSDT", Direction.LONG, price, n=8))

        async def result():
            return [e for e in c["seen"] if isinstance(e, TradeResult) and e.action == "long"]

        (answer,) = await eventually(result)
        assert answer.status == "ENTERED", answer.msg
        assert len(await entries(exchange, "ETHUSDT")) == 1
