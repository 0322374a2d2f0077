"""Market-data events."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from binance_tool.events.common import Market
from binance_tool.events.envelope import Envelope, deterministic_id


class CandleClosed(Envelope):
    """A kline that has closed on the exchange (the websocket's `x: true` update, or back-filled from REST).

    The event id is a function of (exchange, symbol, interval, open time): every replica that sees this candle
    publishes the same message id, and consumers keep the first.
    """

    EXCHANGE: ClassVar[str] = "bt.market-data"
    ROUTING_KEY: ClassVar[str] = "candle.closed.{interval}.{market.symbol}"
    DESCRIPTION: ClassVar[str] = "A closed kline, from the websocket or back-filled from REST (candle-ingestion)."

    object_type: Literal["CandleClosed"] = "CandleClosed"
    version: Literal[1] = 1
    market: Market
    interval: str
    open_time_ms: int = Field(ge=0)
    close_time_ms: int = Field(ge=0)
    open: Decimal
    high: Decimal
    low: Decimal
    close: Decimal
    volume: Decimal
    quote_volume: Decimal = Decimal(0)
    trades: int = 0
    source: Literal["websocket", "rest-backfill"] = "websocket"

    @staticmethod
    def id_for(exchange: str, symbol: str, interval: str, open_time_ms: int) -> uuid.UUID:
        return deterministic_id("CandleClosed", exchange, symbol, interval, open_time_ms)
