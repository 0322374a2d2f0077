"""position-checker on real Redis and RabbitMQ against the exchange simulator (real python-binance adapter): an
edge70 entry with its stop, tracked by the real trackers into Redis, matches the simulator's balance and open orders
(the commission was taken in BTC); then a manual buy nobody tracks and a cancelled stop are reported as
`balance_without_position` and `position_without_stop`, on the bus, with user messages.

No reset of the broker or Redis: the run uses its own account name (so its own position keys) and its own observer
queue, so it can share the test vhost and database with other runs."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from redis.asyncio import Redis

from binance_tool import wiring
from binance_tool.bus.amqp import AmqpBus
from binance_tool.bus.api import Binding, Subscription
from binance_tool.clock import SystemClock
from binance_tool.config import BusSettings, load_settings
from binance_tool.events import Envelope, SendUserMessage
from binance_tool.events.reconciliation import PositionMismatchFound, PositionsChecked
from binance_tool.exchange.execution import OrderOutcome, OrderRequest, OrderType, Side, TimeInForce, client_order_id
from services.exchange_simulator.testing import running_simulator
from services.order_ingestion.reports import Origin, in_exchange_order, order_report, trade_reports
from services.position_checker.main import build
from services.position_checker.settings import CheckerSettings
from services.trackers.filters import ExchangeFilters
from services.trackers.service import TrackersService
from services.trackers.store import RedisTrackerStore
from tests.simulator.conftest import make_settings

pytestmark = pytest.mark.integration
START = "2021-03-01"


async def eventually(predicate, within_s: float = 20.0, every_s: float = 0.05):
    async with asyncio.timeout(within_s):
        while True:
            value = predicate()
            if value:
                return value
            await asyncio.sleep(every_s)


class _Sink:
    """Where the trackers publish their PositionChanged events (not under test here)."""

    async def publish(self, event: Envelope) -> None:
        pass

    async def publish_many(self, events) -> None:
        pass


async def track_everything(exchange, redis: Redis, account: str, only_order_ids: set[int]) -> None:
    """Feed the simulator's orders and trades (those in `only_order_ids`) to the real trackers writing to Redis,
    as order ingestion's REST back-fill would."""
    origin, now = Origin("binance", account), SystemClock().now_ms()
    orders = {o.order_id: o for o in await exchange.all_orders("BTCUSDT") if o.order_id in only_order_ids}
    trades = [t for t in await exchange.my_trades("BTCUSDT") if t.order_id in only_order_ids]
    reports = [r for o in orders.values() if (r := order_report(o, origin, now)) is not None]
    reports += trade_reports(trades, orders, origin, now)
    trackers = TrackersService(_Sink(), RedisTrackerStore(redis), ExchangeFilters(exchange), SystemClock())
    for report in in_exchange_order(reports):
        await trackers.on_execution_report(report)


async def place(exchange, request: OrderRequest) -> int:
    result = await exchange.place_order(request)
    assert result.outcome is OrderOutcome.ACCEPTED and result.order is not None, result
    return result.order.order_id


async def test_tracked_entry_and_stop_match_then_a_manual_buy_and_a_removed_stop_are_reported(
    shared_data: Path, amqp_url: str, redis_url: str
):
    run = uuid.uuid4().hex[:8]
    account = f"it-{run}"
    sim_conf = make_settings(shared_data, sim_symbols="BTCUSDT", sim_start=START, sim_balances="USDT=10000")
    async with running_simulator(sim_conf) as sim:
        settings = load_settings(
            CheckerSettings,
            amqp_url=amqp_url,
            redis_url=redis_url,
            exchange="simulator",
            simulator_url=sim.base_url,
            checker_account=account,
            checker_confirm_delay_s=0.2,
            checker_tolerance_quote="1",
        )
        exchange = await wiring.spot_exchange(settings)
        redis = Redis.from_url(redis_url)
        observer_bus = AmqpBus(load_settings(BusSettings, amqp_url=amqp_url), None, "observer")
        await observer_bus.connect()
        watch = Subscription(
            queue=f"test.position-checker-observer.{run}",
            bindings=(
                Binding(PositionsChecked.EXCHANGE, "reconciliation.#"),
                Binding(SendUserMessage.EXCHANGE, "user-message.position-mismatch"),
            ),
            accepts=(PositionMismatchFound, PositionsChecked, SendUserMessage),
            dedup=False,
            extra_arguments={"x-expires": 60_000},
        )
        await observer_bus.declare([watch])
        seen: list[Envelope] = []

        async def record(event: Envelope, _delivery) -> None:
            if getattr(event, "account", None) == account or (
                isinstance(event, SendUserMessage) and event.tags.get("account") == account
            ):
                seen.append(event)

        observer = await observer_bus.consume(watch, record)
        app = await build(settings)
        try:
            filters = (await exchange.symbol_filters(["BTCUSDT"]))["BTCUSDT"]
            price = (await exchange.prices(["BTCUSDT"]))["BTCUSDT"]
            entry = await place(
                exchange,
                OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, Decimal("0.01"),
                             client_order_id("edge70", run, "entry")),
            )  # fmt: skip
            held = (await exchange.balances())["BTC"].total
            assert held < Decimal("0.01")  # the commission was taken in BTC
            stop_price = filters.price_down(price / 2)
            stop_cid = client_order_id("edge70", run, "s1")
            stop = await place(
                exchange,
                OrderRequest("BTCUSDT", Side.SELL, OrderType.STOP_LOSS_LIMIT, filters.quantity_down(held), stop_cid,
                             price=filters.price_down(stop_price * Decimal("0.99")), stop_price=stop_price,
                             time_in_force=TimeInForce.GTC),
            )  # fmt: skip
            await track_everything(exchange, redis, account, {entry, stop})

            clean = await app.checker.check_once()
            assert clean is not None and clean.confirmed == ()
            assert clean.result.open_positions == 1 and clean.result.balances_compared == 1
            summary = await eventually(lambda: [e for e in seen if isinstance(e, PositionsChecked)])
            assert (summary[0].mismatch_count, summary[0].positions) == (0, 1)
            assert not [e for e in seen if isinstance(e, PositionMismatchFound)]

            # a manual buy nobody tracks, and the stop cancelled by hand
            manual_qty = filters.quantity_down(Decimal("200") / price)  # ~200 USDT
            await place(exchange, OrderRequest("BTCUSDT", Side.BUY, OrderType.MARKET, manual_qty, f"manual-{run}"))
            cancelled = await exchange.cancel_order("BTCUSDT", stop_cid)
            assert cancelled.outcome is OrderOutcome.ACCEPTED, cancelled

            found = await app.checker.check_once()
            assert found is not None
            assert sorted((m.kind.value, m.asset, m.edge) for m in found.confirmed) == [
                ("balance_without_position", "BTC", None),
                ("position_without_stop", "BTC", "edge70"),
            ]
            (surplus,) = [m for m in found.confirmed if m.kind.value == "balance_without_position"]
            assert surplus.difference == (await exchange.balances())["BTC"].total - held
            assert surplus.value_quote is not None and surplus.value_quote > Decimal("150")

            def reported() -> list[Envelope]:
                found_events = [e for e in seen if isinstance(e, PositionMismatchFound)]
                messages = [e for e in seen if isinstance(e, SendUserMessage)]
                return found_events + messages if len(found_events) == 2 and len(messages) == 2 else []

            events = await eventually(reported)
            kinds = sorted(e.kind for e in events if isinstance(e, PositionMismatchFound))
            assert kinds == ["balance_without_position", "position_without_stop"]
            assert all(e.check_id == found.check_id for e in events if isinstance(e, PositionMismatchFound))
            await eventually(lambda: len([e for e in seen if isinstance(e, PositionsChecked)]) == 2)
            last = [e for e in seen if isinstance(e, PositionsChecked)][-1]
            assert (last.mismatch_count, last.kinds) == (2, ("balance_without_position", "position_without_stop"))
        finally:
            for pattern in (f"positions:{account}:*", f"orders:{account}:*", f"orders-index:{account}:*"):
                async for key in redis.scan_iter(match=pattern):
                    await redis.delete(key)
            await redis.delete(f"positions-index:{account}")
            await app.aclose()
            await observer.stop()
            await observer_bus.close()
            await exchange.close()
            await redis.aclose()
