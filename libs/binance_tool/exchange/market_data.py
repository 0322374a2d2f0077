"""The market-data port: what services need from an exchange's public API and kline streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Protocol

from binance_tool.market.candles import INTERVAL_MS, Candle


@dataclass(frozen=True, slots=True)
class Kline:
    """A kline as the exchange reports it (REST row or websocket `k` object)."""

    symbol: str
    interval: str
    open_time_ms: int
    close_time_ms: int
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal
    trades: int
    closed: bool

    def candle(self) -> Candle:
        return Candle(self.open_time_ms, self.open, self.high, self.low, self.close, self.volume)

    @classmethod
    def from_rest(cls, symbol: str, interval: str, row: list[Any], server_time_ms: int) -> Kline:
        return cls(
            symbol=symbol,
            interval=interval,
            open_time_ms=int(row[0]),
            close_time_ms=int(row[6]),
            open=Decimal(row[1]),
            high=Decimal(row[2]),
            low=Decimal(row[3]),
            close=Decimal(row[4]),
            volume=Decimal(row[5]),
            quote_volume=Decimal(row[7]),
            trades=int(row[8]),
            closed=int(row[6]) < server_time_ms,
        )

    @classmethod
    def from_stream(cls, k: dict[str, Any]) -> Kline:
        return cls(
            symbol=str(k["s"]),
            interval=str(k["i"]),
            open_time_ms=int(k["t"]),
            close_time_ms=int(k["T"]),
            open=Decimal(k["o"]),
            high=Decimal(k["h"]),
            low=Decimal(k["l"]),
            close=Decimal(k["c"]),
            volume=Decimal(k["v"]),
            quote_volume=Decimal(k.get("q", "0")),
            trades=int(k.get("n", 0)),
            closed=bool(k["x"]),
        )


@dataclass(frozen=True, slots=True)
class StreamInterrupted:
    """The kline stream dropped and was re-established: updates may have been missed (back-fill from REST)."""

    reason: str


StreamItem = Kline | StreamInterrupted


class MarketData(Protocol):
    async def server_time_ms(self) -> int: ...

    async def exchange_info(self) -> dict[str, Any]: ...

    async def closed_klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int | None = None,
    ) -> list[Kline]:
        """Every CLOSED kline with start_ms <= open time <= end_ms (default: up to now), in order, paginated."""

    async def recent_closed_klines(self, symbol: str, interval: str, count: int) -> list[Kline]:
        """The last `count` closed klines (fewer for a young market), in order."""

    def kline_stream(self, symbols: list[str], interval: str) -> AsyncIterator[StreamItem]:
        """Kline updates (in-progress and final) of these markets; `StreamInterrupted` after each reconnect."""

    async def close(self) -> None: ...


def interval_ms(interval: str) -> int:
    try:
        return INTERVAL_MS[interval]
    except KeyError:
        raise ValueError(f"unsupported interval {interval!r} (known: {', '.join(INTERVAL_MS)})") from None
