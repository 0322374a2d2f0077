"""Matching along the replayed hourly candles, driven by the simulated clock (POST /sim/advance and the running
clock), with the real python-binance client.  TESTUSDT hours from DAY0 (see conftest.TRADING_HOURS): h2 100 -> 95 ->
102 -> 101, h3 101 -> 100.5 -> 104 -> 103, h4 103 -> 103.5 -> 96 -> 97, h5 gaps down to 94; the simulator starts at
DAY0 + 2h with the last price 100."""

from __future__ import annotations

import gzip
from decimal import Decimal
from pathlib import Path

from binance import AsyncClient

from services.exchange_simulator.testing import RunningSimulator

from .conftest import DAY0, HOUR, advance, eventually, signed_client, trading_simulator

T2 = DAY0 + 2 * HOUR


async def order(client: AsyncClient, order_id: int) -> dict:
    return await client.get_order(symbol="TESTUSDT", orderId=order_id)


async def test_limit_buy_fills_at_the_open_when_it_opens_below_else_at_its_price(tsim, trader: AsyncClient):
    low = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="98")
    high = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="101")
    await advance(tsim, trader, to=T2 + HOUR)
    trades = await trader.get_my_trades(symbol="TESTUSDT")
    assert [(t["orderId"], t["price"], t["time"], t["isMaker"]) for t in trades] == [
        (low["orderId"], "98.00000000", T2 + HOUR, True),
        (high["orderId"], "100.00000000", T2 + HOUR, True),
    ]
    # locked 98 + 101, spent 98 + 100: the 1 USDT the second order saved is free again
    usdt = await trader.get_asset_balance("USDT")
    assert (usdt["free"], usdt["locked"]) == ("9802.00000000", "0.00000000")
    assert (await trader.get_asset_balance("TEST"))["free"] == "11.99800000"


async def test_an_order_placed_inside_an_hour_waits_for_the_next_candle(tsim, trader: AsyncClient):
    await advance(tsim, trader, to=T2 + 30 * 60_000)
    placed = await trader.order_limit_buy(symbol="TESTUSDT", quantity="1", price="98")
    await advance(tsim, trader, to=T2 + 2 * HOUR)  # h2 (low 95) opened before the order; h3 stays above 98
    assert (await order(trader, placed["orderId"]))["status"] == "NEW"
    await advance(tsim, trader, to=T2 + 3 * HOUR)  # h4 falls to 96
    filled = await order(trader, placed["orderId"])
    assert (filled["status"], filled["cummulativeQuoteQty"], filled["updateTime"]) == (
        "FILLED",
        "98.00000000",
        T2 + 3 * HOUR,
    )


async def test_stop_loss_limit_sell_triggers_along_the_path(tsim, trader: AsyncClient):
    def stop(stop_price: str, price: str):
        return trader.create_order(
            symbol="TESTUSDT",
            side="SELL",
            type="STOP_LOSS_LIMIT",
            timeInForce="GTC",
            quantity="1",
            price=price,
            stopPrice=stop_price,
        )

    at_stop = await stop("97", "96.5")  # h2 falls through 97: marketable at once, fills at the stop (taker)
    above = await stop("97", "97.5")  # triggered at 97 on the way to 95, fills at 97.5 on the way back up
    await advance(tsim, trader, to=T2 + HOUR)
    trades = {t["orderId"]: t for t in await trader.get_my_trades(symbol="TESTUSDT")}
    assert (trades[at_stop["orderId"]]["price"], trades[at_stop["orderId"]]["isMaker"]) == ("97.00000000", False)
    assert (trades[above["orderId"]]["price"], trades[above["orderId"]]["isMaker"]) == ("97.50000000", True)

    await advance(tsim, trader, to=T2 + 3 * HOUR)  # last price 97 (h4's close)
    gapped = await stop("95", "93.5")  # h5 opens at 94, below the stop: triggered and filled at the open
    resting = await stop("95.5", "95.4")  # triggered at 94 but the limit is above everything h5 trades at
    await advance(tsim, trader, to=T2 + 4 * HOUR)
    assert (await order(trader, gapped["orderId"]))["cummulativeQuoteQty"] == "94.00000000"
    working = await order(trader, resting["orderId"])
    assert (working["status"], working["isWorking"], working["workingTime"]) == ("NEW", True, T2 + 4 * HOUR)
    await advance(tsim, trader, to=T2 + 5 * HOUR)  # h6 94.5 -> 93.5 -> 95.5: reaches the limit
    done = await order(trader, resting["orderId"])
    assert (done["status"], done["cummulativeQuoteQty"]) == ("FILLED", "95.40000000")
    assert (await trader.get_asset_balance("TEST"))["locked"] == "0.00000000"


async def test_partial_fills_take_the_configured_share_of_the_remaining_per_crossing_candle(trading_data: Path):
    async with trading_simulator(trading_data, sim_partial_fill_ratio="0.5") as sim, signed_client(sim) as client:
        placed = await client.order_limit_buy(symbol="TESTUSDT", quantity="1", price="101")
        seen = []
        for hour in (1, 2, 3):
            await advance(sim, client, to=T2 + hour * HOUR)
            o = await order(client, placed["orderId"])
            seen.append((o["status"], o["executedQty"]))
        assert seen == [
            ("PARTIALLY_FILLED", "0.50000000"),
            ("PARTIALLY_FILLED", "0.75000000"),
            ("PARTIALLY_FILLED", "0.87500000"),
        ]
        prices = [t["price"] for t in await client.get_my_trades(symbol="TESTUSDT")]
        assert prices == ["100.00000000", "101.00000000", "101.00000000"]  # h2 opens at 100, h3/h4 reach 101
        canceled = await client.cancel_order(symbol="TESTUSDT", orderId=placed["orderId"])
        assert (canceled["status"], canceled["executedQty"]) == ("CANCELED", "0.87500000")
        spent = Decimal("50") + Decimal("25.25") + Decimal("12.625")
        usdt = await client.get_asset_balance("USDT")
        assert (Decimal(usdt["free"]), usdt["locked"]) == (Decimal(10_000) - spent, "0.00000000")


async def test_the_running_clock_matches_without_advance(trading_data: Path):
    async with trading_simulator(trading_data, sim_speed=36_000) as sim, signed_client(sim) as client:  # 1 h = 0.1 s
        placed = await client.order_limit_sell(symbol="TESTUSDT", quantity="1", price="103.5")

        async def filled() -> bool:
            return (await order(client, placed["orderId"]))["status"] == "FILLED"

        await eventually(filled, within_s=10)
        (trade,) = await client.get_my_trades(symbol="TESTUSDT")
        # h3's high 104 reaches it; under load the running clock may pass more hours before the order lands, and
        # the order only meets candles opening after it was placed
        assert trade["price"] == "103.50000000"
        assert trade["time"] >= max(T2 + 2 * HOUR, placed["transactTime"]) and trade["time"] % HOUR == 0


def hourly_csv(shared: Path, symbol: str) -> list[tuple[int, Decimal, Decimal, Decimal, Decimal]]:
    rows = gzip.decompress((shared / "1h" / f"{symbol}.csv.gz").read_bytes()).decode().splitlines()[1:]
    out = []
    for line in rows:
        t, o, h, low, c, _ = line.split(",")
        out.append((int(t), Decimal(o), Decimal(h), Decimal(low), Decimal(c)))
    return out


async def test_limit_buy_on_replayed_btcusdt_fills_where_the_hourly_data_says(sim: RunningSimulator, shared_data: Path):
    start = 1_614_556_800_000  # 2021-03-01T00:00Z
    hours = [r for r in hourly_csv(shared_data, "BTCUSDT") if start <= r[0] < start + 12 * HOUR]
    price = (min(r[3] for r in hours[:6]) + min(r[3] for r in hours[:3])) / 2  # reached in hour 3..5, not before
    price = price.quantize(Decimal("0.01"))
    expected = next(r for r in hours if r[1] <= price or r[3] <= price)
    expected_price = min(expected[1], price)
    async with signed_client(sim) as client:
        placed = await client.order_limit_buy(symbol="BTCUSDT", quantity="0.01", price=str(price))
        await advance(sim, client, to=start + 12 * HOUR)
        (trade,) = await client.get_my_trades(symbol="BTCUSDT")
    assert trade["orderId"] == placed["orderId"]
    assert (Decimal(trade["price"]), trade["time"]) == (expected_price, expected[0] + HOUR)
    assert trade["commission"] == "0.00001000" and trade["commissionAsset"] == "BTC"
