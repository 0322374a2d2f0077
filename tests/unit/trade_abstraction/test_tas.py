"""Trade Abstraction Service on the fake exchange: explicit results, protection of every fill, idempotency, auth."""

from __future__ import annotations

from decimal import Decimal

import pytest

from binance_tool.events import TradeResult
from binance_tool.exchange.execution import OrderStatus, OrderType
from tests.unit.trade_abstraction.conftest import OPERATOR, T0, Tas

D = Decimal


def open_orders(tas: Tas, kind: OrderType | None = None):
    return [o for o in tas.exchange.orders if o.status.is_open and (kind is None or o.type is kind)]


async def test_no_token_is_401_and_a_token_without_the_role_is_403(tas: Tas):
    body = {"edge": "edge70", "symbol": "BTCUSDT", "signal_id": "s", "signal_price": "100", "quantity": "1"}
    assert (await tas.http.post("/spot/long", json=body)).status_code == 401
    assert (await tas.post("/spot/long", body, token="not-a-real-token-at-all")).status_code == 401
    forbidden = await tas.post("/spot/long", body, token=OPERATOR)
    assert forbidden.status_code == 403 and "sizer" in forbidden.json()["detail"]
    assert tas.exchange.orders == []


@pytest.mark.parametrize(
    "change",
    [
        {"symbol": "btc-usdt"},
        {"quantity": "-1"},
        {"quantity": "0.000000001"},
        {"signal_price": "abc"},
        {"leverage": 10},
        {"edge": "EDGE 70"},
        {"signal_id": ""},
    ],
)
async def test_bad_requests_get_a_4xx_with_the_reason_and_place_nothing(tas: Tas, change):
    body = {"edge": "edge70", "symbol": "BTCUSDT", "signal_id": "s", "signal_price": "100", "quantity": "1"} | change
    response = await tas.post("/spot/long", body)
    assert response.status_code == 400 and response.json()["status"] == "BAD_REQUEST"
    assert response.json()["msg"].startswith("invalid request: ")
    assert tas.exchange.orders == []


async def test_a_marketable_entry_fills_and_is_protected_by_a_stop_at_once(tas: Tas):
    response = await tas.long()
    body = response.json()
    assert response.status_code == 201 and body["status"] == "ENTERED"
    roles = [o["role"] for o in body["orders"]]
    assert roles == ["entry", "stop"]
    (stop,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    assert stop.stop_price == D("85.00") and stop.price == D("80.75")  # fill 100 × 0.85, limit 5 % below
    assert stop.orig_qty == D("0.999")  # 1 BTC less the 0.1 % commission taken in BTC
    (event,) = [e for e in tas.bus.published if isinstance(e, TradeResult)]
    assert (event.status, event.http_status, event.action) == ("ENTERED", 201, "long")


async def test_partial_fills_are_protected_as_they_come_and_the_rest_expires(tas: Tas):
    tas.exchange.set_price("BTCUSDT", 110)
    response = await tas.long(price="100")  # limit 100.50 rests below the market
    assert response.status_code == 201 and open_orders(tas, OrderType.STOP_LOSS_LIMIT) == []
    (entry,) = open_orders(tas, OrderType.LIMIT)
    tas.exchange.fill("BTCUSDT", entry.client_order_id, D("0.4"))
    await tas.protector.sweep_once()
    (stop,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    assert stop.orig_qty == D("0.399")
    tas.exchange.fill("BTCUSDT", entry.client_order_id, D("0.3"))
    await tas.protector.sweep_once()
    (stop,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    assert stop.orig_qty == D("0.699")  # replaced to cover both fills
    tas.clock.advance(86_400_001)
    tas.exchange.advance(86_400_001)
    await tas.protector.sweep_once()
    assert open_orders(tas, OrderType.LIMIT) == []  # the unfilled 0.3 was cancelled at the deadline
    (trade,) = await tas.store.active_trades()
    assert trade.state.value == "OPEN" and trade.executed_qty == D("0.7")


async def test_a_second_signal_is_already_in_position_and_the_same_signal_again_places_nothing(tas: Tas):
    assert (await tas.long("sig-1")).status_code == 201
    again = await tas.long("sig-1")
    assert again.status_code == 201 and "already entered" in again.json()["msg"]
    other = await tas.long("sig-2")
    assert other.status_code == 409 and other.json()["status"] == "ALREADY_IN_POSITION"
    assert len([o for o in tas.exchange.orders if o.type is OrderType.LIMIT]) == 1


async def test_an_http_retry_with_the_same_idempotency_key_replays_the_first_answer(tas: Tas):
    first = await tas.long(key="k-1")
    second = await tas.long(key="k-1")
    assert second.json() == first.json() and second.status_code == first.status_code
    assert second.headers.get("Idempotent-Replayed") == "true"
    assert len([o for o in tas.exchange.orders if o.type is OrderType.LIMIT]) == 1


async def test_too_small_and_insufficient_balance_are_explicit_and_send_nothing_or_are_refused(tas: Tas):
    small = await tas.long(qty="0.05")  # 5 USDT < minNotional 10
    assert small.status_code == 422 and small.json()["status"] == "TOO_SMALL_TO_TRADE"
    assert tas.exchange.orders == []
    poor = await tas.long("sig-2", qty="150")  # 15,075 USDT > 10,000
    assert poor.status_code == 422 and poor.json()["status"] == "INSUFFICIENT_BALANCE"
    assert (await tas.long("sig-3")).status_code == 201  # the failed entry released the market


async def test_a_timeout_after_the_order_was_placed_yields_exactly_one_order(tas: Tas):
    tas.exchange.fail_next_with_unknown(placed=True)
    response = await tas.long()
    assert response.status_code == 201 and response.json()["status"] == "ENTERED"
    assert len([o for o in tas.exchange.orders if o.type is OrderType.LIMIT]) == 1


async def test_a_timeout_before_the_order_was_placed_is_reported_and_a_retry_places_it_once(tas: Tas):
    tas.exchange.fail_next_with_unknown(placed=False)
    response = await tas.long(key="k-2")
    assert response.status_code == 503 and "not placed" in response.json()["msg"]
    retry = await tas.long(key="k-2")
    assert retry.status_code == 201
    assert len([o for o in tas.exchange.orders if o.type is OrderType.LIMIT]) == 1


async def test_rate_limited_is_429_with_retry_after(tas: Tas):
    await tas.post("/spot/close", {"edge": "edge70", "symbol": "BTCUSDT"})  # 404; the filters are now cached
    tas.exchange.rate_limit_next(retry_after_s=7)
    response = await tas.long()
    assert response.status_code == 429 and response.json()["status"] == "RATE_LIMITED"
    assert response.headers["Retry-After"] == "7"


async def test_close_cancels_the_stop_and_sells_everything(tas: Tas):
    await tas.long()
    response = await tas.post("/spot/close", {"edge": "edge70", "symbol": "BTCUSDT"}, token=OPERATOR)
    body = response.json()
    assert response.status_code == 200 and body["status"] == "CLOSED"
    assert [o["role"] for o in body["orders"]] == ["cancelled-stop", "exit"]
    assert open_orders(tas) == []
    balances = await tas.exchange.balances()
    assert balances.get("BTC") is None or balances["BTC"].total < D("0.001")  # at most dust below the step
    again = await tas.post("/spot/close", {"edge": "edge70", "symbol": "BTCUSDT"})
    assert again.status_code == 404 and again.json()["status"] == "NOT_FOUND"


async def test_move_stop_replaces_the_stop_and_refuses_a_stop_above_the_market(tas: Tas):
    await tas.long()
    moved = await tas.post("/spot/move-stop", {"edge": "edge70", "symbol": "BTCUSDT", "new_stop_price": "95"})
    assert moved.status_code == 200 and moved.json()["status"] == "STOP_MOVED"
    (stop,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    assert stop.stop_price == D("95") and stop.orig_qty == D("0.999")
    above = await tas.post("/spot/move-stop", {"edge": "edge70", "symbol": "BTCUSDT", "new_stop_price": "101"})
    assert above.status_code == 422 and above.json()["status"] == "STOP_ABOVE_MARKET"
    (stop,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    assert stop.stop_price == D("95")


async def test_a_stop_that_fills_closes_the_trade(tas: Tas):
    await tas.long()
    tas.exchange.set_price("BTCUSDT", 84)  # below the 85 trigger, above the 80.75 limit: the stop fills
    await tas.protector.sweep_once()
    assert await tas.store.active_trades() == []
    stops = [o for o in tas.exchange.orders if o.type is OrderType.STOP_LOSS_LIMIT]
    assert stops[0].status is OrderStatus.FILLED


async def test_short_is_not_supported_on_spot_and_positions_are_listed(tas: Tas):
    short = await tas.post("/spot/short", {"edge": "edge70", "symbol": "BTCUSDT"})
    assert short.status_code == 400 and short.json()["status"] == "NOT_SUPPORTED"
    await tas.long()
    listed = await tas.http.get("/spot/positions", headers={"Authorization": f"Bearer {OPERATOR}"})
    (position,) = listed.json()
    assert position["symbol"] == "BTCUSDT" and D(position["stop_price"]) == D("85")
    assert position["opened_at_ms"] == T0


async def test_unknown_edge_and_symbol_are_400(tas: Tas):
    body = {"edge": "edge99", "symbol": "BTCUSDT", "signal_id": "s", "signal_price": "100", "quantity": "1"}
    assert (await tas.post("/spot/long", body)).json()["status"] == "UNKNOWN_EDGE"
    body |= {"edge": "edge70", "symbol": "DOGEUSDT"}
    response = await tas.post("/spot/long", body)
    assert response.status_code == 400 and response.json()["status"] == "UNKNOWN_SYMBOL"


async def test_the_stop_covers_what_the_trade_holds_not_coins_of_another_holder(tas: Tas):
    tas.exchange.set_balance("BTC", D("0.3"))  # bought by hand (or by another edge) before
    response = await tas.long()
    assert response.status_code == 201
    (stop,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    assert stop.orig_qty == D("0.999")  # this trade's 1 BTC less its commission, not min(1, 1.299)
    closed = await tas.post("/spot/close", {"edge": "edge70", "symbol": "BTCUSDT"}, token=OPERATOR)
    assert closed.status_code == 200, closed.text
    assert (await tas.exchange.balances())["BTC"].total >= D("0.3")  # the other holder's coins are not sold


async def test_what_a_stop_sold_before_it_was_cancelled_is_not_sold_again_from_another_holder(tas: Tas):
    tas.exchange.set_balance("BTC", D("0.3"))  # another holder's coins
    assert (await tas.long()).status_code == 201
    (stop,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    tas.exchange.fill("BTCUSDT", stop.client_order_id, D("0.4"))  # the stop sells part, then the trade is closed
    closed = await tas.post("/spot/close", {"edge": "edge70", "symbol": "BTCUSDT"}, token=OPERATOR)
    assert closed.status_code == 200, closed.text
    assert (await tas.exchange.balances())["BTC"].total == D("0.3")  # 0.999 − 0.4 sold at market, 0.3 untouched


async def test_a_moved_stop_covers_only_what_the_old_one_had_not_sold(tas: Tas):
    assert (await tas.long()).status_code == 201
    (stop,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    tas.exchange.fill("BTCUSDT", stop.client_order_id, D("0.4"))
    moved = await tas.post("/spot/move-stop", {"edge": "edge70", "symbol": "BTCUSDT", "new_stop_price": "90"})
    assert moved.status_code == 200, moved.text
    (new,) = open_orders(tas, OrderType.STOP_LOSS_LIMIT)
    assert new.orig_qty == D("0.599")
