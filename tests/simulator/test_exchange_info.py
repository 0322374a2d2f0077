"""exchangeInfo: restricted to symbols with data, synthesized entries for symbols the snapshot lacks."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from services.exchange_simulator.data import CandleStore
from services.exchange_simulator.exchange_info import ExchangeInfo


def _info(data_dir: Path, symbols: list[str] | None = None, include_all: bool = False) -> ExchangeInfo:
    store = CandleStore(data_dir, symbols)
    return ExchangeInfo.load(data_dir, store.symbols, {s: store.series(s, "1d") for s in store.symbols}, include_all)


def test_symbols_missing_from_the_snapshot_are_synthesized_with_btcusdt_filter_types(shared_data: Path):
    info = _info(shared_data)
    assert set(info.synthesized) == {"APEUSDT", "FLOWUSDT"}
    btc_types = [f["filterType"] for f in info.symbols["BTCUSDT"]["filters"]]
    for symbol in ("APEUSDT", "FLOWUSDT"):
        entry = info.symbols[symbol]
        assert entry["status"] == "TRADING" and entry["baseAsset"] == symbol[:-4] and entry["quoteAsset"] == "USDT"
        assert [f["filterType"] for f in entry["filters"]] == btc_types


def test_synthesized_tick_size_fits_every_price_in_the_data(shared_data: Path):
    store = CandleStore(shared_data, ["APEUSDT", "FLOWUSDT"])
    info = _info(shared_data, ["APEUSDT", "FLOWUSDT"])
    for symbol in ("APEUSDT", "FLOWUSDT"):
        filters = {f["filterType"]: f for f in info.symbols[symbol]["filters"]}
        tick = Decimal(filters["PRICE_FILTER"]["tickSize"])
        assert Decimal("0.00000001") <= tick <= Decimal("0.01")
        assert Decimal(filters["LOT_SIZE"]["stepSize"]) == Decimal("0.01")  # prices ~1..40 USDT
        daily = store.series(symbol, "1d")
        for col in (daily.open, daily.high, daily.low, daily.close):
            assert all(Decimal(v.decode()) % tick == 0 for v in col)


def test_only_symbols_with_candles_are_listed_unless_all_is_asked(shared_data: Path):
    assert set(_info(shared_data, ["BTCUSDT", "APEUSDT"]).symbols) == {"BTCUSDT", "APEUSDT"}
    everything = _info(shared_data, ["BTCUSDT"], include_all=True)
    assert len(everything.symbols) > 1000 and "BNBBTC" in everything.symbols


def test_response_keeps_the_snapshot_rate_limits_and_uses_the_given_server_time(shared_data: Path):
    body = _info(shared_data, ["BTCUSDT"]).response(server_time=123)
    assert body["serverTime"] == 123 and body["timezone"] == "UTC"
    assert {r["rateLimitType"] for r in body["rateLimits"]} == {"REQUEST_WEIGHT", "ORDERS"}


def test_the_request_weight_limit_published_is_todays_not_the_snapshots(shared_data: Path):
    info = _info(shared_data, ["BTCUSDT"])
    before = {r["rateLimitType"] + r["interval"]: r["limit"] for r in info.rate_limits}
    assert before["REQUEST_WEIGHTMINUTE"] == 1200  # the 2021 snapshot
    info.set_request_weight_limit(6000)
    after = {r["rateLimitType"] + r["interval"]: r["limit"] for r in info.response(0)["rateLimits"]}
    assert after == {**before, "REQUEST_WEIGHTMINUTE": 6000}
