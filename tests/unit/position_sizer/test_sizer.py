"""position-sizer with the real TAS app in-process on the fake exchange: decisions are events, sizing is the
shared rule's, the kill switch is honoured, and a redelivered signal places nothing twice."""

from __future__ import annotations

import uuid
from decimal import Decimal

import httpx
import pytest

from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.events import Direction, Edge70Signal, EntrySized, SendUserMessage
from binance_tool.exchange.execution import OrderType
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.health import Health
from binance_tool.trading import SizingRules, SymbolFilters, TradingMode
from services.position_sizer.kill_switch import InMemoryModeStore
from services.position_sizer.service import PositionSizerService, TasRetryLater
from services.position_sizer.tas_client import TasClient
from services.trade_abstraction.app import Principal, TasDeps, build_app
from services.trade_abstraction.executor import SpotExecutor
from services.trade_abstraction.store import InMemoryTradeStore
from tests.builders import edge70_signal

D = Decimal
TOKEN = "sizer-token-0123456789"
T0 = 1_700_000_000_000


def filters(symbol: str) -> SymbolFilters:
    return SymbolFilters(symbol, tick_size=D("0.01"), min_price=D("0.01"), step_size=D("0.001"), min_qty=D("0.001"),
                         min_notional=D(10), base_asset=symbol[:-4], quote_asset="USDT")  # fmt: skip


def signal(symbol: str, direction: Direction, price: str = "100", test: bool = False) -> Edge70Signal:
    eid = uuid.uuid5(uuid.NAMESPACE_OID, f"{symbol}{direction}{price}")
    return edge70_signal(symbol, direction, D(price), eid, T0, T0 - 86_400_000, test)


@pytest.fixture
async def world():
    symbols = ["BTCUSDT", "ETHUSDT"]
    exchange = FakeSpotExchange([filters(s) for s in symbols], balances={"USDT": 10_000},
                                prices={"BTCUSDT": 100, "ETHUSDT": 50}, now_ms=T0)  # fmt: skip
    bus = InMemoryBus()
    await bus.connect()
    clock = FixedClock(T0)
    executor = SpotExecutor(exchange, exchange, InMemoryTradeStore(), clock)
    app = build_app(TasDeps(executor, bus, clock, {TOKEN: Principal("sizer", "sizer")}, Health(ready=True)))
    tas = TasClient("http://tas", TOKEN, transport=httpx.ASGITransport(app=app))
    modes = InMemoryModeStore()
    sizer = PositionSizerService(bus, exchange, tas, modes, clock, SizingRules())
    yield sizer, exchange, bus, modes
    await tas.aclose()
    await exchange.close()


def sized(bus: InMemoryBus) -> list[EntrySized]:
    return [e for e in bus.published if isinstance(e, EntrySized)]


async def test_a_long_signal_is_sized_by_the_shared_rules_then_entered_and_protected(world):
    sizer, exchange, bus, _ = world
    await sizer.on_signal(signal("BTCUSDT", Direction.LONG))
    (decision,) = sized(bus)
    assert decision.accepted and decision.binding == "RISK_PER_TRADE"
    assert decision.limit_price == D("100.50") and decision.stop_price == D("85.43")
    assert decision.quantity == D("6.635")  # 10,000 × 1 % / (100.50 − 85.43), stepped down
    assert decision.portfolio_value == D(10000) and decision.rules["risk_per_trade"] == "0.01"
    (entry,) = [o for o in exchange.orders if o.type is OrderType.LIMIT]
    assert entry.orig_qty == D("6.635") and entry.price == D("100.50")
    assert [o for o in exchange.orders if o.type is OrderType.STOP_LOSS_LIMIT and o.status.is_open]


async def test_a_redelivered_signal_places_nothing_twice(world):
    sizer, exchange, _bus, _ = world
    event = signal("BTCUSDT", Direction.LONG)
    await sizer.on_signal(event)
    await sizer.on_signal(event)
    assert len([o for o in exchange.orders if o.type is OrderType.LIMIT]) == 1


async def test_the_kill_switch_refuses_entries_with_an_audited_decision(world):
    sizer, exchange, bus, modes = world
    modes.mode = TradingMode.HALTED
    await sizer.on_signal(signal("BTCUSDT", Direction.LONG))
    (decision,) = sized(bus)
    assert not decision.accepted and decision.binding == "KILL_SWITCH" and decision.trading_mode == "halted"
    assert exchange.orders == []
    assert any(isinstance(e, SendUserMessage) and "not entered" in e.text for e in bus.published)


async def test_the_second_entry_sees_the_first_positions_risk_and_cash(world):
    sizer, _exchange, bus, _ = world
    await sizer.on_signal(signal("BTCUSDT", Direction.LONG))
    await sizer.on_signal(signal("ETHUSDT", Direction.LONG, "50"))
    first, second = sized(bus)
    assert second.open_positions == 1 and second.open_risk > 0
    assert second.free_quote < first.free_quote
    assert second.accepted


async def test_a_short_signal_closes_the_position_and_test_signals_are_never_traded(world):
    sizer, exchange, bus, _ = world
    await sizer.on_signal(signal("BTCUSDT", Direction.LONG, test=True))
    assert exchange.orders == [] and sized(bus) == []
    await sizer.on_signal(signal("BTCUSDT", Direction.LONG))
    await sizer.on_signal(signal("BTCUSDT", Direction.SHORT))
    assert [o for o in exchange.orders if o.type is OrderType.MARKET]
    assert not [o for o in exchange.orders if o.status.is_open]


async def test_an_unreachable_tas_makes_the_signal_retry_later(world):
    sizer, _exchange, _bus, _ = world
    sizer.tas = TasClient("http://127.0.0.1:9", TOKEN, timeout_s=0.5)
    with pytest.raises(TasRetryLater):
        await sizer.on_signal(signal("BTCUSDT", Direction.SHORT))
    await sizer.tas.aclose()
