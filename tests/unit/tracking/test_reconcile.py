"""Positions vs the exchange (pure): each mismatch kind, and what is NOT a mismatch (dust after a sell, fees taken
in the base asset, the stop floored to the LOT_SIZE step, the quote asset, ignored assets, the tolerance)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from binance_tool.exchange.execution import Balance, OrderState, OrderStatus, OrderType, Side
from binance_tool.tracking import Mismatch, MismatchKind, Position, PositionFill, ReconcileSettings, reconcile
from binance_tool.tracking import position_from_fills as from_fills
from binance_tool.trading.filters import SymbolFilters

D = Decimal
B, S = Side.BUY, Side.SELL
BTC = SymbolFilters(
    "BTCUSDT", step_size=D("0.0001"), min_qty=D("0.0001"), min_notional=D("5"), base_asset="BTC", quote_asset="USDT"
)
ETH = SymbolFilters(
    "ETHUSDT", step_size=D("0.001"), min_qty=D("0.001"), min_notional=D("5"), base_asset="ETH", quote_asset="USDT"
)
FILTERS = {f.symbol: f for f in (BTC, ETH)}
PRICES = {"BTCUSDT": D("50000"), "ETHUSDT": D("2000"), "BNBUSDT": D("600")}
CONF = ReconcileSettings(quote_asset="USDT", tolerance_quote=D("1"))
_trade_ids = iter(range(1, 10**9))


def position(
    qty: str, edge: str | None = "edge70", f: SymbolFilters = BTC, fee: str = "0", fee_asset: str = "USDT"
) -> Position:
    """A position bought in one fill of `qty` (gross) paying `fee` in `fee_asset`."""
    price = PRICES[f.symbol]
    fill = PositionFill(next(_trade_ids), 1, B, D(qty), price, D(fee), fee_asset, 1_000, edge)
    return from_fills([fill], f)


def sold(p: Position, qty: str, f: SymbolFilters = BTC) -> Position:
    """`p` (bought in one fill) after selling `qty`."""
    buy = PositionFill(next(_trade_ids), 1, B, p.bought_qty, PRICES[f.symbol], D(0), "USDT", 1_000, p.edge)
    sell = PositionFill(next(_trade_ids), 2, S, D(qty), PRICES[f.symbol], D(0), "USDT", 2_000, p.edge)
    return from_fills([buy, sell], f)


def bal(asset: str, free: str, locked: str = "0") -> Balance:
    return Balance(asset, D(free), D(locked))


_order_ids = iter(range(1, 10**9))


def stop(qty: str, edge: str | None = "edge70", symbol: str = "BTCUSDT", executed: str = "0") -> OrderState:
    cid = f"{edge}-s1-{next(_order_ids):022x}" if edge else f"web_{next(_order_ids)}"
    status = OrderStatus.PARTIALLY_FILLED if D(executed) else OrderStatus.NEW
    return OrderState(
        symbol, next(_order_ids), cid, S, OrderType.STOP_LOSS_LIMIT, status, D(qty), D(executed), D(0),
        price=D("40000"), stop_price=D("40100"),
    )  # fmt: skip


def check(positions, balances, orders=(), conf=CONF, prices=PRICES) -> list[Mismatch]:
    return reconcile(positions, {b.asset: b for b in balances}, orders, FILTERS, prices, conf)


def kinds(mismatches: list[Mismatch]) -> list[tuple[str, str, str | None]]:
    return [(m.kind.value, m.asset, m.edge) for m in mismatches]


# --- each kind --------------------------------------------------------------------------------------------------
def test_an_edge_position_without_an_open_stop_is_reported():
    p = position("0.5")
    (m,) = check([p], [bal("BTC", "0.5"), bal("USDT", "100")])
    assert (m.kind, m.asset, m.symbol, m.edge) == (MismatchKind.POSITION_WITHOUT_STOP, "BTC", "BTCUSDT", "edge70")
    assert (m.expected, m.actual) == (D("0.5"), D(0))
    assert m.value_quote == D("25000") and "no open stop" in m.text and "edge70" in m.text


def test_a_balance_without_a_position_is_reported_with_its_value():
    (m,) = check([], [bal("ETH", "1.5", "0.5")])
    assert (m.kind, m.asset, m.symbol, m.edge) == (MismatchKind.BALANCE_WITHOUT_POSITION, "ETH", "ETHUSDT", None)
    assert (m.expected, m.actual, m.difference, m.value_quote) == (D(0), D(2), D(2), D(4000))
    assert "4,000.00 USDT" in m.text


def test_a_position_without_balance_is_reported():
    (m,) = check([position("0.5")], [], [stop("0.5")])
    assert (m.kind, m.edge, m.expected, m.actual, m.difference) == (
        MismatchKind.POSITION_WITHOUT_BALANCE, None, D("0.5"), D(0), D("-0.5"),
    )  # fmt: skip


def test_a_balance_lower_than_the_positions_is_a_position_without_balance():
    (m,) = check([position("0.5"), position("0.2", edge=None)], [bal("BTC", "0.1", "0.5")], [stop("0.5")])
    assert (m.kind, m.edge, m.expected, m.actual) == (
        MismatchKind.POSITION_WITHOUT_BALANCE,
        None,
        D("0.7"),
        D("0.6"),
    )
    assert "edge70 0.5" in m.text and "manual 0.2" in m.text


def test_a_stop_for_less_than_the_position_is_a_stop_quantity_mismatch():
    (m,) = check([position("0.5")], [bal("BTC", "0", "0.5")], [stop("0.3")])
    assert (m.kind, m.edge, m.expected, m.actual, m.difference) == (
        MismatchKind.STOP_QUANTITY_MISMATCH, "edge70", D("0.5"), D("0.3"), D("-0.2"),
    )  # fmt: skip
    assert "uncovered" in m.text


def test_a_stop_for_more_than_the_position_is_a_stop_quantity_mismatch():
    (m,) = check([position("0.5")], [bal("BTC", "0", "0.5")], [stop("0.7")])
    assert (m.kind, m.difference) == (MismatchKind.STOP_QUANTITY_MISMATCH, D("0.2"))


def test_several_kinds_come_sorted_by_asset_then_kind():
    found = check([position("0.5"), position("1", f=ETH)], [bal("BTC", "0.1"), bal("ETH", "1"), bal("ADA", "900")])
    assert kinds(found) == [
        ("balance_without_position", "ADA", None),
        ("position_without_stop", "BTC", "edge70"),
        ("position_without_balance", "BTC", None),
        ("position_without_stop", "ETH", "edge70"),
    ]
    (ada,) = [m for m in found if m.asset == "ADA"]
    assert ada.value_quote is None and "ADA" in ada.text  # no price: reported, not valued


# --- not mismatches ---------------------------------------------------------------------------------------------
def test_matching_positions_balances_and_stops_give_no_mismatch():
    positions = [position("0.5"), position("2", f=ETH)]
    assert check(positions, [bal("BTC", "0", "0.5"), bal("ETH", "0.5", "1.5"), bal("USDT", "1234")],
                 [stop("0.5"), stop("2", symbol="ETHUSDT")]) == []  # fmt: skip


def test_a_fee_taken_in_the_base_asset_is_not_a_mismatch():
    p = position("0.5", fee="0.0005", fee_asset="BTC")  # the exchange credits 0.4995
    assert p.quantity == D("0.4995")
    assert check([p], [bal("BTC", "0", "0.4995")], [stop("0.4995")]) == []


def test_the_stop_floored_to_the_lot_step_matches_a_position_off_the_step():
    p = position("0.5", fee="0.00005", fee_asset="BTC")  # 0.49995: the TAS places a stop of 0.4999
    assert check([p], [bal("BTC", "0.00005", "0.4999")], [stop("0.4999")]) == []


def test_dust_left_after_a_sell_is_not_a_mismatch():
    p = sold(position("0.5"), "0.49995")  # 0.00005 BTC left: below minQty, the position is closed
    assert p.closed and p.quantity == D("0.00005")
    assert check([p], [bal("BTC", "0.00005")]) == []
    assert check([], [bal("BTC", "0.00005")]) == []  # untracked dust too


def test_dust_of_several_closed_positions_counts_as_held():
    # each left 0.00009 BTC (< minQty); together 0.00018 would be above it: they are expected, not a surplus
    closed = [sold(position("0.5", edge=e), "0.49991") for e in ("edge70", "edge71")]
    assert all(p.closed for p in closed)
    assert check(closed, [bal("BTC", "0.00018")]) == []


def test_a_difference_below_min_notional_is_dust():
    # above minQty (0.001 ETH) but worth less than minNotional (5 USDT) at 2000
    assert check([], [bal("ETH", "0.002")]) == []  # 4 USDT


def test_a_difference_worth_less_than_the_tolerance_is_ignored():
    conf = ReconcileSettings(tolerance_quote=D("100"))
    assert check([], [bal("ETH", "0.04")], conf=conf) == []  # 80 USDT < 100
    assert kinds(check([], [bal("ETH", "0.06")], conf=conf)) == [("balance_without_position", "ETH", None)]


def test_the_quote_asset_and_ignored_assets_are_never_compared():
    conf = ReconcileSettings(ignore_assets=frozenset({"BNB", "BTC"}))
    found = check([position("0.5")], [bal("USDT", "99999"), bal("BNB", "3")], conf=conf)
    assert found == []


def test_a_manual_position_needs_no_stop_unless_the_setting_says_so():
    p = position("0.5", edge=None)
    assert check([p], [bal("BTC", "0.5")]) == []
    conf = ReconcileSettings(require_stop_for_manual=True)
    (m,) = check([p], [bal("BTC", "0.5")], conf=conf)
    assert (m.kind, m.edge) == (MismatchKind.POSITION_WITHOUT_STOP, None)
    assert check([p], [bal("BTC", "0", "0.5")], [stop("0.5", edge=None)], conf=conf) == []


def test_stops_are_attributed_by_the_edge_of_their_client_order_id():
    edge_pos, manual = position("0.5"), position("0.2", edge=None)
    # a manual stop does not protect the edge position
    found = check([edge_pos, manual], [bal("BTC", "0", "0.7")], [stop("0.2", edge=None)])
    assert kinds(found) == [("position_without_stop", "BTC", "edge70")]
    assert check([edge_pos, manual], [bal("BTC", "0", "0.7")], [stop("0.2", edge=None), stop("0.5")]) == []


def test_a_partly_filled_stop_counts_its_remaining_quantity():
    p = sold(position("0.5"), "0.2")  # the stop filled 0.2 of 0.5; the trackers applied it
    assert check([p], [bal("BTC", "0", "0.3")], [stop("0.5", executed="0.2")]) == []


def test_buy_orders_and_other_symbols_stops_are_not_stops_of_the_position():
    buy = OrderState("BTCUSDT", 77, "edge70-s1-x", B, OrderType.STOP_LOSS_LIMIT, OrderStatus.NEW, D("0.5"), D(0), D(0))
    limit = OrderState("BTCUSDT", 78, "edge70-x-1", S, OrderType.LIMIT, OrderStatus.NEW, D("0.5"), D(0), D(0))
    found = check([position("0.5")], [bal("BTC", "0", "0.5")], [buy, limit, stop("0.5", symbol="ETHUSDT")])
    # the ETHUSDT stop protects no BTC; it is a leftover stop of edge70, which holds no ETH
    assert kinds(found) == [("position_without_stop", "BTC", "edge70"), ("stop_quantity_mismatch", "ETH", "edge70")]


def test_a_negative_tolerance_is_refused():
    with pytest.raises(ValueError, match="tolerance_quote"):
        ReconcileSettings(tolerance_quote=D("-1"))


# --- properties -------------------------------------------------------------------------------------------------
steps = st.integers(min_value=1, max_value=10**6)  # multiples of BTC's 0.0001 step
edges = st.sampled_from(["edge70", "edge71", None])
price = st.integers(min_value=1_000, max_value=100_000).map(D)


@st.composite
def books(draw):
    """Positions on BTC (distinct edges), their base-asset fees, and prices."""
    chosen = draw(st.lists(edges, min_size=0, max_size=3, unique=True))
    positions = []
    for e in chosen:
        gross = draw(steps) * BTC.step_size
        fee = draw(st.integers(min_value=0, max_value=99)) * D("0.000001")  # below a step
        fill = PositionFill(next(_trade_ids), 1, B, gross, D(100), fee, "BTC", 1_000, e)
        p = from_fills([fill], BTC)
        if not p.closed:
            positions.append(p)
    return positions, {"BTCUSDT": draw(price), "ETHUSDT": draw(price)}


@given(books(), st.booleans())
@settings(max_examples=200, deadline=None)
def test_exact_balances_and_stops_floored_to_the_step_never_mismatch(book, locked):
    positions, prices = book
    held = sum((p.quantity for p in positions), D(0))
    balance = bal("BTC", "0", str(held)) if locked else bal("BTC", str(held))
    stops = [stop(str(BTC.quantity_down(p.quantity)), edge=p.edge) for p in positions if p.edge is not None]
    conf = ReconcileSettings(require_stop_for_manual=False)
    assert reconcile(positions, {"BTC": balance}, stops, FILTERS, prices, conf) == []


@given(books(), st.integers(min_value=0, max_value=99))
@settings(max_examples=200, deadline=None)
def test_a_surplus_below_min_qty_is_never_reported(book, dust_units):
    positions, prices = book
    held = sum((p.quantity for p in positions), D(0)) + dust_units * D("0.000001")  # < minQty 0.0001
    stops = [stop(str(BTC.quantity_down(p.quantity)), edge=p.edge) for p in positions if p.edge is not None]
    assert reconcile(positions, {"BTC": bal("BTC", str(held))}, stops, FILTERS, prices, ReconcileSettings()) == []


@given(books(), steps, st.booleans())
@settings(max_examples=200, deadline=None)
def test_a_tradable_difference_is_reported_once_with_its_sign_and_size(book, units, surplus):
    positions, prices = book
    held = sum((p.quantity for p in positions), D(0))
    diff = units * BTC.step_size
    if not surplus:
        diff = -min(diff, held)
    actual = held + diff
    price_ = prices["BTCUSDT"]
    tradable = abs(diff) >= BTC.min_qty and abs(diff) * price_ >= BTC.min_notional
    stops = [stop(str(BTC.quantity_down(p.quantity)), edge=p.edge) for p in positions if p.edge is not None]
    found = reconcile(positions, {"BTC": bal("BTC", str(actual))}, stops, FILTERS, prices, ReconcileSettings())
    balance_kinds = [m for m in found if m.kind in (MismatchKind.BALANCE_WITHOUT_POSITION,
                                                    MismatchKind.POSITION_WITHOUT_BALANCE)]  # fmt: skip
    if not tradable:
        assert balance_kinds == []
        return
    (m,) = balance_kinds
    assert m.difference == diff and m.expected == held and m.actual == actual
    assert m.kind is (MismatchKind.BALANCE_WITHOUT_POSITION if diff > 0 else MismatchKind.POSITION_WITHOUT_BALANCE)
    assert m.value_quote == abs(diff) * price_


@given(books(), st.randoms(use_true_random=False))
@settings(max_examples=100, deadline=None)
def test_the_result_does_not_depend_on_the_order_of_the_inputs(book, rnd):
    positions, prices = book
    balances = {"BTC": bal("BTC", "0.3"), "ETH": bal("ETH", "7"), "XRP": bal("XRP", "5")}
    orders = [stop("0.1"), stop("0.2", edge="edge71"), stop("1", symbol="ETHUSDT")]
    first = reconcile(positions, balances, orders, FILTERS, prices, ReconcileSettings())
    shuffled_positions, shuffled_orders = positions[:], orders[:]
    rnd.shuffle(shuffled_positions)
    rnd.shuffle(shuffled_orders)
    items = list(balances.items())
    rnd.shuffle(items)
    again = reconcile(shuffled_positions, dict(items), shuffled_orders, FILTERS, prices, ReconcileSettings())
    assert again == first
    assert [m.sort_key for m in first] == sorted(m.sort_key for m in first)
    assert len({m.key for m in first}) == len(first)


# --- leftover stops, balance keys, third-asset fees -----------------------------------------------------------
BNB = SymbolFilters(
    "BNBUSDT", step_size=D("0.001"), min_qty=D("0.001"), min_notional=D("5"), base_asset="BNB", quote_asset="USDT"
)
BALANCE_KINDS = (MismatchKind.BALANCE_WITHOUT_POSITION, MismatchKind.POSITION_WITHOUT_BALANCE)


def test_a_leftover_stop_of_an_edge_with_no_position_is_reported():
    # edge71 holds 0.3 BTC with its stop; edge70 closed, but its stop's cancel timed out: it locks edge71's coins
    held = position("0.3", edge="edge71")
    found = check([held], [bal("BTC", "0", "0.6")], [stop("0.3", edge="edge71"), stop("0.3", edge="edge70")])
    (m,) = [m for m in found if m.kind is MismatchKind.STOP_QUANTITY_MISMATCH]
    assert (m.asset, m.symbol, m.edge, m.expected, m.actual, m.difference) == (
        "BTC", "BTCUSDT", "edge70", D(0), D("0.3"), D("0.3"),
    )  # fmt: skip
    assert "stop of edge70 on BTCUSDT for 0.3 BTC" in m.text and "edge70 holds nothing" in m.text
    assert m.value_quote == D("15000")


def test_a_leftover_stop_over_the_dust_of_a_closed_position_is_reported_and_a_fully_filled_one_is_not():
    dust = sold(position("0.5"), "0.49995")  # 0.00005 BTC left: below minQty, closed
    assert dust.closed and dust.quantity == D("0.00005")
    found = check([dust], [bal("BTC", "0.00005", "0.2")], [stop("0.2")])
    (m,) = [m for m in found if m.kind not in BALANCE_KINDS]
    assert (m.kind, m.edge, m.actual) == (MismatchKind.STOP_QUANTITY_MISMATCH, "edge70", D("0.2"))
    assert "holds only 0.00005 BTC" in m.text
    assert check([dust], [bal("BTC", "0.00005")], [stop("0.2", executed="0.2")]) == []  # nothing left to sell


def test_a_leftover_manual_stop_is_reported_only_when_manual_positions_need_stops():
    orders = [stop("0.2", edge=None)]
    assert kinds(check([], [bal("BTC", "0", "0.2")], orders)) == [("balance_without_position", "BTC", None)]
    strict = ReconcileSettings(tolerance_quote=D("1"), require_stop_for_manual=True)
    found = check([], [bal("BTC", "0", "0.2")], orders, conf=strict)
    assert ("stop_quantity_mismatch", "BTC", None) in kinds(found)


@given(st.sampled_from(["edge70", "edge71"]), steps, st.integers(min_value=0, max_value=10**6))
@settings(max_examples=200, deadline=None)
def test_any_tradable_stop_of_an_edge_without_position_is_reported_once(edge, units, executed_units):
    qty = units * BTC.step_size
    executed = min(executed_units * BTC.step_size, qty)
    other = position("1", edge="edge72")
    orders = [stop("1", edge="edge72"), stop(str(qty), edge=edge, executed=str(executed))]
    found = [m for m in check([other], [bal("BTC", "0", "2")], orders) if m.edge == edge]
    left = qty - executed
    if left < BTC.min_qty or left * PRICES["BTCUSDT"] < max(BTC.min_notional, CONF.tolerance_quote):
        assert found == []
        return
    (m,) = found
    assert (m.kind, m.expected, m.actual, m.difference) == (MismatchKind.STOP_QUANTITY_MISMATCH, 0, left, left)


def test_a_balance_mismatch_keeps_its_key_when_another_edge_opens_or_closes_a_position():
    alone = check([position("0.5")], [bal("BTC", "0", "0.2")], [stop("0.5")])
    (short,) = [m for m in alone if m.kind in BALANCE_KINDS]
    both = check(
        [position("0.5"), position("0.3", edge="edge71")],
        [bal("BTC", "0", "0.5")],
        [stop("0.5"), stop("0.3", edge="edge71")],
    )
    (still,) = [m for m in both if m.kind in BALANCE_KINDS]
    assert short.key == still.key == ("position_without_balance", "BTC", "-")
    assert short.edge is None and still.edge is None


@given(edges, st.integers(min_value=2_000, max_value=10**6), st.booleans())
@settings(max_examples=100, deadline=None)
def test_a_balance_mismatch_key_is_kind_and_asset_whoever_holds_it(edge, units, surplus):
    p = position(str(units * BTC.step_size), edge=edge)  # >= 0.2 BTC: half of it is tradable
    stops = [stop(str(BTC.quantity_down(p.quantity)), edge=edge)] if edge else []
    actual = p.quantity * (D("1.5") if surplus else D("0.5"))
    (m,) = [m for m in check([p], [bal("BTC", str(actual))], stops) if m.kind in BALANCE_KINDS]
    assert m.key == (m.kind.value, "BTC", "-") and m.edge is None


def test_fees_paid_in_bnb_by_other_positions_are_not_a_missing_bnb_position():
    filters = {**FILTERS, "BNBUSDT": BNB}
    prices = {**PRICES, "BNBUSDT": D("600")}
    bnb = (
        position("1", f=BNB)
        if False
        else from_fills([PositionFill(next(_trade_ids), 1, B, D("1"), D("600"), D(0), "USDT", 1_000, "edge70")], BNB)
    )
    btc = position("0.5", fee="0.02", fee_asset="BNB")  # paid its commission in BNB
    orders = [stop("1", symbol="BNBUSDT"), stop("0.5")]
    balances = {"BNB": bal("BNB", "0", "0.98"), "BTC": bal("BTC", "0", "0.5")}
    assert [m for m in reconcile([bnb, btc], balances, orders, filters, prices, CONF) if m.kind in BALANCE_KINDS] == []
    # a real shortfall still shows, net of the fees, and says why the expectation is lower
    balances["BNB"] = bal("BNB", "0", "0.9")
    (m,) = [m for m in reconcile([bnb, btc], balances, orders, filters, prices, CONF) if m.kind in BALANCE_KINDS]
    assert (m.kind, m.expected, m.difference) == (MismatchKind.POSITION_WITHOUT_BALANCE, D("0.98"), D("-0.08"))
    assert "0.02 BNB paid as fees of other positions" in m.text


@given(st.lists(st.integers(min_value=0, max_value=5000), min_size=1, max_size=4))
@settings(max_examples=100, deadline=None)
def test_the_expected_bnb_is_the_bnb_held_minus_every_bnb_fee_of_other_positions(fee_units):
    filters = {**FILTERS, "BNBUSDT": BNB}
    prices = {**PRICES, "BNBUSDT": D("600")}
    bnb = from_fills([PositionFill(next(_trade_ids), 1, B, D("10"), D("600"), D(0), "USDT", 1_000, None)], BNB)
    payers = [
        position("0.1", edge=f"edge{10 + i}", fee=str(u * D("0.00001")), fee_asset="BNB")
        for i, u in enumerate(fee_units)
    ]
    fees = sum((u * D("0.00001") for u in fee_units), D(0))
    balances = {"BNB": bal("BNB", str(D("10") - fees)), "BTC": bal("BTC", str(D("0.1") * len(payers)))}
    stops = [stop("0.1", edge=p.edge) for p in payers]
    assert reconcile([bnb, *payers], balances, stops, filters, prices, CONF) == []


def test_a_stop_market_order_protects_a_position_and_a_take_profit_does_not():
    from dataclasses import replace as _replace

    stop_market = _replace(stop("0.5"), type=OrderType.STOP_LOSS, price=D(0))
    assert check([position("0.5")], [bal("BTC", "0", "0.5")], [stop_market]) == []
    take_profit = _replace(stop("0.5"), type=OrderType.TAKE_PROFIT_LIMIT)
    assert kinds(check([position("0.5")], [bal("BTC", "0", "0.5")], [take_profit])) == [
        ("position_without_stop", "BTC", "edge70")
    ]
