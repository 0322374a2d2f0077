"""Portfolio value: every balance valued in the quote asset, unpriced balances listed rather than counted as 0."""

from __future__ import annotations

from decimal import Decimal

from binance_tool.exchange.execution import Balance
from binance_tool.tracking import portfolio_value, price_in

D = Decimal


def test_every_priced_balance_is_valued_in_the_quote_asset() -> None:
    balances = [Balance("USDT", D("100"), D("50")), Balance("BTC", D("0.5"), D("0.5")), Balance("ETH", D(0), D(0))]
    value = portfolio_value(balances, {"BTCUSDT": D("30000")}, "USDT")
    assert value.values == {"BTC": D("30000"), "USDT": D("150")}
    assert value.total == D("30150") and value.complete


def test_balance_without_a_price_is_listed_as_unpriced_not_valued_at_zero() -> None:
    balances = {"XYZ": Balance("XYZ", D("3"), D(0)), "USDT": Balance("USDT", D("10"), D(0))}
    value = portfolio_value(balances, {}, "USDT")
    assert value.unpriced == {"XYZ": D("3")} and not value.complete and value.total == D("10")


def test_price_of_an_asset_quoted_the_other_way_round_is_inverted() -> None:
    assert price_in("BRL", "USDT", {"USDTBRL": D("5")}) == D("0.2")
    assert price_in("USDT", "USDT", {}) == 1
    assert price_in("BTC", "USDT", {"BTCUSDT": D(0)}) is None
