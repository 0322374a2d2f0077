"""Rate-limit bookkeeping (windows from exchangeInfo, the X-MBX headers, 429 pauses, 418 bans) on a fake clock, and
the parsing of Binance's payloads into the port's Decimal values."""

from __future__ import annotations

from decimal import Decimal

import pytest

from binance_tool.exchange import binance_parse as parse
from binance_tool.exchange.binance_limits import RateLimited, RateLimits, retry_after_s
from binance_tool.exchange.execution import OrderStatus, OrderType, Side

RATE_LIMITS = [
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 5},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 1000},
    {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5, "limit": 61000},
]


class Clock:
    def __init__(self, t: float = 1_000_040.0) -> None:  # 20 s into a minute (16667 * 60 + 20)
        self.t = t

    def __call__(self) -> float:
        return self.t


def limits(clock: Clock, safety: float = 1.0) -> RateLimits:
    return RateLimits(RATE_LIMITS, safety=safety, clock=clock)


def test_exchange_info_windows_are_adopted_and_raw_requests_ignored():
    snap = limits(Clock()).snapshot()
    assert snap["windows"] == {"REQUEST_WEIGHT/1M": "0/100", "ORDERS/10S": "0/5", "ORDERS/1D": "0/1000"}


def test_requests_are_booked_until_the_weight_budget_is_spent_then_wait_for_the_next_minute():
    clock = Clock()
    rl = limits(clock)
    assert all(rl.reserve(20) == 0 for _ in range(5))
    assert rl.reserve(1, max_wait_s=60) == pytest.approx(40)  # the minute started 20 s ago
    with pytest.raises(RateLimited) as err:
        rl.reserve(1, max_wait_s=10)
    assert err.value.retry_after_s == pytest.approx(40) and not err.value.banned
    clock.t += 40
    assert rl.reserve(1) == 0


def test_order_count_windows_limit_orders_not_reads():
    clock = Clock(1_000_000.0)
    rl = limits(clock)
    for _ in range(5):
        assert rl.reserve(1, orders=1) == 0
    assert rl.reserve(1, orders=1, max_wait_s=30) == pytest.approx(10)
    assert rl.reserve(4) == 0  # a read still goes


def test_the_exchanges_counts_in_the_headers_are_adopted_when_higher():
    clock = Clock()
    rl = limits(clock)
    rl.reserve(10)
    rl.observe({"X-MBX-USED-WEIGHT-1M": "95", "x-mbx-order-count-10s": "5", "Content-Type": "application/json"})
    assert rl.snapshot()["windows"]["REQUEST_WEIGHT/1M"] == "95/100"
    assert rl.reserve(5) == 0
    assert rl.reserve(1, max_wait_s=60) > 0
    rl.observe({"X-MBX-USED-WEIGHT-1M": "3"})  # lower than what we booked: keep ours
    assert rl.snapshot()["windows"]["REQUEST_WEIGHT/1M"] == "100/100"


def test_a_safety_margin_keeps_headroom_below_the_published_limit():
    rl = limits(Clock(), safety=0.9)
    rl.reserve(90)
    assert rl.reserve(1, max_wait_s=60) > 0


def test_a_429_pauses_every_request_for_retry_after():
    clock = Clock()
    rl = limits(clock)
    rl.pause(3)
    assert rl.reserve(1, max_wait_s=5) == pytest.approx(3)
    clock.t += 3
    assert rl.reserve(1) == 0


def test_a_418_ban_refuses_every_request_until_it_ends():
    clock = Clock()
    rl = limits(clock)
    rl.ban(120)
    with pytest.raises(RateLimited) as err:
        rl.reserve(1, max_wait_s=1000)
    assert err.value.banned and err.value.retry_after_s == pytest.approx(120)
    assert rl.banned_for() == pytest.approx(120)
    clock.t += 120
    assert rl.reserve(1) == 0


def test_an_order_429_without_retry_after_marks_the_10s_window_full():
    clock = Clock(1_000_004.0)
    rl = limits(clock)
    assert rl.orders_exhausted() == pytest.approx(6)
    assert rl.reserve(1, orders=1, max_wait_s=10) == pytest.approx(6)


def test_retry_after_header_is_read_in_seconds():
    assert retry_after_s({"Retry-After": "7"}) == 7
    assert retry_after_s({"retry-after": "x"}) is None
    assert retry_after_s(None) is None


# --- parsing --------------------------------------------------------------------------------------------------
EXECUTION_REPORT = {  # user-data-stream.md
    "e": "executionReport",
    "E": 1499405658658,
    "s": "ETHBTC",
    "c": "mUvoqJxFIILMdfAW5iGSOW",
    "S": "BUY",
    "o": "LIMIT",
    "f": "GTC",
    "q": "1.00000000",
    "p": "0.10264410",
    "P": "0.00000000",
    "F": "0.00000000",
    "g": -1,
    "C": "",
    "x": "TRADE",
    "X": "PARTIALLY_FILLED",
    "r": "NONE",
    "i": 4293153,
    "l": "0.40000000",
    "z": "0.40000000",
    "L": "0.10264410",
    "n": "0.00040000",
    "N": "ETH",
    "T": 1499405658657,
    "t": 77,
    "w": True,
    "m": False,
    "O": 1499405658657,
    "Z": "0.04105764",
    "Y": "0.04105764",
    "Q": "0.00000000",
}


def test_an_execution_report_becomes_decimals_and_enums():
    r = parse.user_event(EXECUTION_REPORT)
    assert r is not None and not isinstance(r, parse.AccountPosition)
    assert (r.side, r.type, r.status, r.execution_type) == (
        Side.BUY,
        OrderType.LIMIT,
        OrderStatus.PARTIALLY_FILLED,
        "TRADE",
    )
    assert (r.last_qty, r.last_price, r.commission, r.commission_asset) == (
        Decimal("0.4"),
        Decimal("0.10264410"),
        Decimal("0.0004"),
        "ETH",
    )
    assert (r.order_id, r.trade_id, r.original_client_order_id, r.raw["w"]) == (4293153, 77, "", True)


def test_account_positions_and_unmodelled_events():
    pos = parse.user_event({"e": "outboundAccountPosition", "E": 2, "u": 1, "B": [{"a": "ETH", "f": "10.5", "l": "0"}]})
    assert isinstance(pos, parse.AccountPosition) and pos.balances[0].free == Decimal("10.5")
    assert parse.user_event({"e": "balanceUpdate", "E": 1, "a": "BTC", "d": "1", "T": 1}) is None
    assert parse.user_event(EXECUTION_REPORT | {"o": "SOME_NEW_TYPE"}) is None  # skipped with a warning
    take_profit = parse.user_event(EXECUTION_REPORT | {"o": "TAKE_PROFIT_LIMIT"})  # read and tracked, not placed
    assert isinstance(take_profit, parse.ExecutionReport) and take_profit.type is OrderType.TAKE_PROFIT_LIMIT


def test_a_cancel_answer_carries_the_orders_own_client_id():
    answer = {
        "symbol": "BTCUSDT",
        "origClientOrderId": "mine",
        "orderId": 4,
        "clientOrderId": "cancelRequestId",
        "transactTime": 1684804350068,
        "price": "0.01",
        "origQty": "1.0",
        "executedQty": "0.0",
        "cummulativeQuoteQty": "0.0",
        "status": "CANCELED",
        "timeInForce": "GTC",
        "type": "LIMIT",
        "side": "BUY",
    }
    state = parse.order_state(answer)
    assert (state.client_order_id, state.status, state.time_ms, state.price) == (
        "mine",
        OrderStatus.CANCELED,
        1684804350068,
        Decimal("0.01"),
    )


def test_floats_are_refused_and_unmodelled_orders_skipped_in_lists():
    with pytest.raises(TypeError):
        parse.dec(0.1)
    row = {
        "symbol": "X",
        "orderId": 1,
        "clientOrderId": "a",
        "side": "BUY",
        "type": "SOME_NEW_TYPE",
        "status": "NEW",
        "origQty": "1",
        "executedQty": "0",
        "cummulativeQuoteQty": "0",
    }
    assert parse.order_states([row, row | {"type": "LIMIT", "orderId": 2}])[0].order_id == 2
    kinds = [o.type for o in parse.order_states([row | {"type": t, "orderId": i} for i, t in enumerate(
        ("LIMIT_MAKER", "STOP_LOSS", "TAKE_PROFIT"))])]  # fmt: skip
    assert kinds == [OrderType.LIMIT_MAKER, OrderType.STOP_LOSS, OrderType.TAKE_PROFIT]
    assert parse.fmt(Decimal("1E-8")) == "0.00000001"


def test_order_types_that_are_only_read_are_refused_at_placement():
    from binance_tool.exchange.execution import OrderOutcome, OrderRequest, Side
    from binance_tool.exchange.execution_support import check_order

    request = OrderRequest("BTCUSDT", Side.SELL, OrderType.STOP_LOSS, Decimal("1"), "edge70-x", None, Decimal("90"))
    refused = check_order(request, None)
    assert refused is not None and refused.outcome is OrderOutcome.DENIED and refused.code == -1116
