"""portfolio-tracker with fakes: balances only move forward per asset, snapshots zero what they omit, the valuation
in the quote asset and in USD, fees in a third asset (BNB) valued at the price when the fill is learnt."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from binance_tool.bus.api import Binding, Subscription
from binance_tool.bus.memory import InMemoryBus
from binance_tool.clock import FixedClock
from binance_tool.events import AccountBalancesUpdated, BalanceEntry, ExecutionReportReceived, PortfolioValued
from binance_tool.exchange.execution import Balance
from binance_tool.exchange.fake_execution import FakeSpotExchange
from binance_tool.tracking import HeldBalance, apply_balances, usd_rate
from binance_tool.trading.filters import SymbolFilters
from services.trackers.commission import StaticCommissionPrices, TickerCommissionPrices
from services.trackers.filters import StaticFilters
from services.trackers.portfolio_store import InMemoryPortfolioStore
from services.trackers.portfolio_tracker import PortfolioTracker
from services.trackers.service import TrackersService
from services.trackers.store import InMemoryTrackerStore


def balances_event(time_ms: int, source: str = "stream", **amounts: str) -> AccountBalancesUpdated:
    entries = tuple(BalanceEntry(asset=a, free=D(v), locked=D(0)) for a, v in sorted(amounts.items()))
    eid = AccountBalancesUpdated.id_for("binance", "default", time_ms, entries)
    return AccountBalancesUpdated(
        event_id=eid, correlation_id=eid, ts_event_ms=time_ms, ts_init_ms=time_ms, source=source,
        update_time_ms=time_ms, balances=entries,
    )  # fmt: skip


async def tracker(prices: dict[str, str] | None = None) -> tuple[PortfolioTracker, list[PortfolioValued]]:
    bus = InMemoryBus()
    await bus.connect()
    seen: list[PortfolioValued] = []
    observer = Subscription("test.portfolio", (Binding(PortfolioValued.EXCHANGE, "portfolio.#"),), (PortfolioValued,))

    async def collect(event, delivery=None):
        seen.append(event)

    await bus.consume(observer, collect)
    symbols = [SymbolFilters(s, base_asset=s[:-4], quote_asset="USDT") for s in prices or {}]
    exchange = FakeSpotExchange(symbols, prices={s: D(p) for s, p in (prices or {}).items()}, now_ms=5_000)
    return PortfolioTracker(bus, InMemoryPortfolioStore(), exchange, FixedClock(9)), seen


def test_a_late_report_does_not_move_an_asset_back_in_time():
    now = apply_balances({}, [Balance("BTC", D("1"), D(0))], 2_000, snapshot=False)
    late = apply_balances(now, [Balance("BTC", D("5"), D(0)), Balance("ETH", D("2"), D(0))], 1_000, snapshot=False)
    assert late["BTC"] == HeldBalance("BTC", D("1"), D(0), 2_000)
    assert late["ETH"] == HeldBalance("ETH", D("2"), D(0), 1_000)


def test_a_snapshot_zeroes_what_it_omits_unless_a_newer_report_says_otherwise():
    held = {"BTC": HeldBalance("BTC", D(1), D(0), 1_000), "ETH": HeldBalance("ETH", D(3), D(0), 3_000)}
    after = apply_balances(held, [Balance("USDT", D("10"), D(0))], 2_000, snapshot=True)
    assert after["BTC"].total == 0 and after["ETH"].total == 3 and after["USDT"].total == 10


@given(st.permutations(range(6)), st.lists(st.integers(0, 5), max_size=4))
def test_the_final_balances_do_not_depend_on_arrival_order_or_duplicates(order, dups):
    reports = [(t * 1_000, [Balance("BTC", D(t), D(0)), Balance(f"A{t % 3}", D(t + 1), D(0))]) for t in range(6)]
    reference: dict[str, HeldBalance] = {}
    for t, bs in reports:
        reference = apply_balances(reference, bs, t, snapshot=False)
    shuffled: dict[str, HeldBalance] = {}
    for i in [*order, *dups]:
        t, bs = reports[i]
        shuffled = apply_balances(shuffled, bs, t, snapshot=False)
    assert shuffled == reference


def test_usd_rate_through_a_stablecoin_pair_or_the_peg():
    assert usd_rate("USDT", {"USDCUSDT": D("1.25")}, "USDC", peg_fallback=True).rate == D("0.8")
    assert usd_rate("USDT", {"USDTUSDC": D("0.99")}, "USDC", peg_fallback=False).source == "market:USDTUSDC"
    assert usd_rate("USDT", {}, "USDC", peg_fallback=True).source == "peg"
    assert usd_rate("USDT", {}, "USDC", peg_fallback=False).rate is None
    assert usd_rate("USDC", {}, "USDC", peg_fallback=False).source == "identity"


async def test_balances_are_valued_in_quote_and_usd_after_a_price_refresh():
    portfolio, seen = await tracker({"BTCUSDT": "20000", "ETHUSDT": "1000", "USDCUSDT": "1.25"})
    first = await portfolio.on_balances(balances_event(1_000, USDT="100", BTC="0.5", XYZ="7"))
    assert first is not None and first.total_quote == D("100") and set(first.unpriced) == {"BTC", "XYZ"}
    valued = await portfolio.refresh_prices()
    assert valued.reason == "prices" and valued.prices_time_ms == 5_000
    assert valued.total_quote == D("10100") and valued.unpriced == ("XYZ",)
    assert valued.total_usd == D("8080") and valued.usd_rate_source == "market:USDCUSDT"
    assert [h.asset for h in valued.holdings][:2] == ["BTC", "USDT"]  # largest value first
    await portfolio._bus.drain()
    assert seen == [first, valued] and await portfolio._store.latest("default") == valued


async def test_a_repeated_or_older_balance_report_publishes_nothing():
    portfolio, seen = await tracker()
    event = balances_event(2_000, USDT="100")
    assert await portfolio.on_balances(event) is not None
    assert await portfolio.on_balances(event) is None
    assert await portfolio.on_balances(balances_event(1_000, USDT="50")) is None
    await portfolio._bus.drain()
    assert len(seen) == 1 and seen[0].total_quote == D("100")


async def test_an_unavailable_exchange_raises_and_keeps_the_last_prices():
    portfolio, _ = await tracker({"BTCUSDT": "100"})
    await portfolio.on_balances(balances_event(1_000, BTC="1"))
    assert (await portfolio.refresh_prices()).total_quote == D("100")
    portfolio._prices.unavailable_next()  # type: ignore[attr-defined]
    from binance_tool.exchange.execution import ExchangeUnavailable

    with pytest.raises(ExchangeUnavailable):
        await portfolio.refresh_prices()
    assert (await portfolio._store.latest("default")).total_quote == D("100")


def bnb_fill_report(trade_id: int, commission: str) -> ExecutionReportReceived:
    eid = ExecutionReportReceived.id_for("binance", "default", "BTCUSDT", 1, "TRADE", trade_id)
    return ExecutionReportReceived(
        event_id=eid, correlation_id=eid, ts_event_ms=1, ts_init_ms=1, source="stream", symbol="BTCUSDT",
        client_order_id="edge70-entry-x", edge="edge70", order_id=1, side="BUY", order_type="LIMIT",
        execution_type="TRADE", order_status="PARTIALLY_FILLED", orig_qty=D(2), price=D(100), stop_price=D(0),
        last_qty=D(1), last_price=D(100), cumulative_qty=D(trade_id), cumulative_quote_qty=D(100 * trade_id),
        commission=D(commission), commission_asset="BNB", trade_id=trade_id, transaction_time_ms=trade_id * 10,
    )  # fmt: skip


async def test_a_fee_in_bnb_is_valued_at_the_price_when_the_fill_is_first_learnt():
    bus = InMemoryBus()
    await bus.connect()
    filters = SymbolFilters("BTCUSDT", step_size=D("0.001"), min_qty=D("0.001"), base_asset="BTC", quote_asset="USDT")
    prices = {"BNBUSDT": D("300")}
    service = TrackersService(
        bus, InMemoryTrackerStore(), StaticFilters({"BTCUSDT": filters}), FixedClock(1), "USDT",
        StaticCommissionPrices(prices),
    )  # fmt: skip
    await service.on_execution_report(bnb_fill_report(1, "0.001"))
    prices["BNBUSDT"] = D("999")  # a redelivery later at another price keeps the first one
    await service.on_execution_report(bnb_fill_report(1, "0.001"))
    await service.on_execution_report(bnb_fill_report(2, "0.002"))
    [record] = await service.store.positions("default")
    pos = record.position
    assert pos.fees_quote == D("0.3") + D("1.998") and pos.fees_other == {}
    assert pos.cost_basis == D("200") + pos.fees_quote and pos.fees_by_asset == {"BNB": D("0.003")}


async def test_without_a_bnb_price_the_fee_is_listed_not_guessed():
    exchange = FakeSpotExchange([SymbolFilters("BTCUSDT", base_asset="BTC", quote_asset="USDT")], prices={"BTCUSDT": 1})
    exchange.unavailable_next()
    assert await TickerCommissionPrices(exchange).price("BNB", "USDT") is None
    assert await TickerCommissionPrices(exchange).price("BNB", "USDT") is None  # no BNBUSDT listed


async def test_a_late_report_of_another_asset_is_a_new_valuation_not_a_duplicate():
    portfolio, _ = await tracker()
    first = await portfolio.on_balances(balances_event(2_000, BTC="1"))
    late = await portfolio.on_balances(balances_event(1_000, ETH="3"))  # older, but news for ETH
    assert first is not None and late is not None and late.balances_time_ms == first.balances_time_ms
    assert late.event_id != first.event_id  # downstream dedup must not drop it
