"""An in-memory MarketData for unit tests: candles per symbol, a settable clock, a scriptable stream."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from decimal import Decimal
from typing import Any

from binance_tool.exchange.market_data import Kline, StreamItem, interval_ms
from binance_tool.market.candles import Candle


class FakeMarketData:
    def __init__(
        self, candles: dict[str, Iterable[Candle]], interval: str = "1d", now_ms: int = 0, quote_asset: str = "USDT"
    ) -> None:
        self.interval = interval
        self.step = interval_ms(interval)
        self.candles = {s: sorted(cs, key=lambda c: c.open_time_ms) for s, cs in candles.items()}
        self.now_ms = now_ms
        self.quote_asset = quote_asset
        self.stream: asyncio.Queue[StreamItem] = asyncio.Queue()
        self.rest_calls = 0

    def kline(self, symbol: str, c: Candle) -> Kline:
        return Kline(
            symbol,
            self.interval,
            c.open_time_ms,
            c.open_time_ms + self.step - 1,
            c.open,
            c.high,
            c.low,
            c.close,
            c.volume,
            c.volume * c.close,
            0,
            c.open_time_ms + self.step - 1 < self.now_ms,
        )

    async def server_time_ms(self) -> int:
        return self.now_ms

    async def exchange_info(self) -> dict[str, Any]:
        return {
            "symbols": [
                {
                    "symbol": s,
                    "baseAsset": s[: -len(self.quote_asset)],
                    "quoteAsset": self.quote_asset,
                    "status": "TRADING",
                    "isSpotTradingAllowed": True,
                }
                for s in self.candles
            ]
        }

    async def closed_klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int | None = None,
    ) -> list[Kline]:
        self.rest_calls += 1
        end = self.now_ms if end_ms is None else min(end_ms, self.now_ms)
        out = [self.kline(symbol, c) for c in self.candles[symbol] if start_ms <= c.open_time_ms <= end]
        return [k for k in out if k.closed]

    async def recent_closed_klines(self, symbol: str, interval: str, count: int) -> list[Kline]:
        return (await self.closed_klines(symbol, interval, 0))[-count:]

    async def kline_stream(self, symbols: list[str], interval: str) -> AsyncIterator[StreamItem]:
        while True:
            yield await self.stream.get()

    async def close(self) -> None:
        return None


def candle(open_time_ms: int, high: str | int, low: str | int, close: str | int | None = None) -> Candle:
    h, lo = Decimal(str(high)), Decimal(str(low))
    c = Decimal(str(close)) if close is not None else (h + lo) / 2
    return Candle(open_time_ms, c, h, lo, c, Decimal(1))
