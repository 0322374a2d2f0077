"""The pure matching rules: the price path inside a candle, limit and stop-limit fills along it, partial fills;
and the timestamp window on the simulated clock."""

from __future__ import annotations

from decimal import Decimal

import pytest

from services.exchange_simulator.auth import check_timestamp, rest_payloads, verify_signature, ws_payloads
from services.exchange_simulator.clock import SimClock
from services.exchange_simulator.matching import candle_path, fill_quantity, walk
from services.exchange_simulator.rest import BinanceError


def d(*values: str) -> list[Decimal]:
    return [Decimal(v) for v in values]


def test_path_goes_down_first_in_a_rising_candle_and_up_first_in_a_falling_one():
    assert candle_path(*d("100", "110", "90", "105")) == d("100", "90", "110", "105")
    assert candle_path(*d("100", "110", "90", "95")) == d("100", "110", "90", "95")
    assert candle_path(*d("100", "110", "90", "100")) == d("100", "90", "110", "100")  # close == open: rising


@pytest.mark.parametrize(
    ("side", "limit", "fill"),
    [
        ("BUY", "101", "100"),  # opens at/below the price: the open
        ("BUY", "100", "100"),
        ("BUY", "95", "95"),  # the low reaches it: the price
        ("BUY", "89", None),
        ("SELL", "99", "100"),  # opens at/above: the open
        ("SELL", "108", "108"),
        ("SELL", "111", None),
    ],
)
def test_limit_fills_at_the_open_when_marketable_else_at_its_price_when_reached(side, limit, fill):
    result = walk(d("100", "90", "110", "105"), side, Decimal(limit), None, triggered=True)
    assert result.fill_price == (None if fill is None else Decimal(fill))
    assert result.maker


def test_sell_stop_triggers_on_the_way_down_and_fills_at_the_stop_when_the_limit_is_below():
    result = walk(candle_path(*d("100", "110", "90", "105")), "SELL", Decimal("94"), Decimal("95"), False)
    assert (result.triggered, result.fill_price, result.maker) == (True, Decimal("95"), False)


def test_sell_stop_with_the_limit_above_fills_when_the_path_comes_back_up():
    result = walk(candle_path(*d("100", "110", "90", "105")), "SELL", Decimal("97"), Decimal("95"), False)
    assert (result.triggered, result.fill_price, result.maker) == (True, Decimal("97"), True)


def test_sell_stop_in_a_falling_candle_sees_the_high_before_the_low():
    # O 100 -> H 110 -> L 90 -> C 95: after the trigger at 95 only the fall to 90 and the rise to 95 remain
    path = candle_path(*d("100", "110", "90", "95"))
    result = walk(path, "SELL", Decimal("96"), Decimal("95"), False)
    assert (result.triggered, result.fill_price) == (True, None)


def test_gapped_stop_triggers_at_the_open_and_fills_there_if_above_the_limit():
    gap = candle_path(*d("90", "92", "88", "91"))
    assert walk(gap, "SELL", Decimal("89"), Decimal("95"), False).fill_price == Decimal("90")
    below_limit = walk(gap, "SELL", Decimal("93"), Decimal("95"), False)
    assert (below_limit.triggered, below_limit.fill_price) == (True, None)


def test_untriggered_stop_stays_pending_and_a_triggered_one_works_as_a_limit_later():
    calm = candle_path(*d("100", "101", "99", "100.5"))
    pending = walk(calm, "SELL", Decimal("94"), Decimal("95"), False)
    assert (pending.triggered, pending.fill_price) == (False, None)
    assert walk(calm, "SELL", Decimal("100.25"), None, True).fill_price == Decimal("100.25")


def test_buy_stop_triggers_on_the_way_up():
    result = walk(candle_path(*d("100", "110", "90", "105")), "BUY", Decimal("106"), Decimal("105"), False)
    assert (result.triggered, result.fill_price, result.maker) == (True, Decimal("105"), False)


@pytest.mark.parametrize(
    ("remaining", "ratio", "expected"),
    [
        ("1", "1", "1"),
        ("1", "0.5", "0.5"),
        ("0.3", "0.5", "0.15"),
        ("0.0003", "0.5", "0.0001"),
        ("0.0003", "0.7", "0.0003"),  # 0.0002 would leave less than the minimum: all of it
        ("0.0001", "0.5", "0.0001"),  # half rounds to nothing: all of it
        ("1.0001", "0.3", "0.3"),
    ],
)
def test_partial_fill_takes_the_ratio_of_the_remaining_rounded_to_the_step(remaining, ratio, expected):
    got = fill_quantity(Decimal(remaining), Decimal(ratio), Decimal("0.0001"), Decimal("0.0002"))
    assert got == Decimal(expected)


def test_binance_documentation_signature_example_verifies():
    # rest-api.md, "SIGNED Endpoint Examples for POST /api/v3/order", example 3 (query string + body)
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    query = "symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC"
    body = "quantity=1&price=0.1&recvWindow=5000&timestamp=1499827319559"
    payloads = rest_payloads(query, body)
    verify_signature(secret, payloads, "0fd168b8ddb4876a0358a8d14d0c9f3da0e9b20c5d52b2a00fcf7d1c602f9a77")
    with pytest.raises(BinanceError) as exc:  # example 1's signature: over query + "&" + body
        verify_signature(secret, payloads, "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    assert exc.value.code == -1022


def test_websocket_api_documentation_signature_example_verifies():
    # web-socket-api.md, "SIGNED request example (HMAC)"
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01000000",
        "price": "52000.00",
        "newOrderRespType": "ACK",
        "recvWindow": 100,
        "timestamp": 1645423376532,
        "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
    }
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    verify_signature(secret, ws_payloads(params), "cc15477742bd704c29492d96c7ead9414dfd8e0ec4a00f947bb5bb454ddbd08a")


class ManualTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _check(ts: int, clock: SimClock, window: int = 5000) -> int | None:
    try:
        check_timestamp(ts, Decimal(window), clock)
    except BinanceError as err:
        return err.code
    return None


def test_timestamp_window_on_a_real_time_clock_is_binances():
    real = ManualTime()
    clock = SimClock(1_000_000, speed=1.0, monotonic=real)
    assert _check(1_000_000 - 5000, clock) is None
    assert _check(1_000_000 - 5001, clock) == -1021
    assert _check(1_000_000 + 999, clock) is None
    assert _check(1_000_000 + 1000, clock) == -1021


def test_timestamp_window_scales_with_the_replay_speed():
    real = ManualTime()
    clock = SimClock(1_000_000_000, speed=3600.0, monotonic=real)  # an hour per second
    real.now = 2.0  # a client synced at start, two real seconds ago, is two simulated hours behind
    client_ts = 1_000_000_000 + 2000
    assert _check(client_ts, clock) is None  # 7198 s behind <= 5000 ms x 3600
    real.now = 6.0
    assert _check(1_000_000_000 + 6000, clock) == -1021  # 6 real s behind > the 5 s window


def test_a_paused_clock_accepts_a_client_running_ahead_by_the_real_time_elapsed():
    real = ManualTime()
    clock = SimClock(1_000_000, speed=0.0, monotonic=real)
    real.now = 30.0
    assert _check(1_000_000 + 30_000, clock) is None
    assert _check(1_000_000 + 31_000, clock) == -1021
    clock.advance_by(3_600_000)  # a jump: a client synced before it is an hour behind
    assert _check(1_000_000 + 30_000, clock) == -1021
