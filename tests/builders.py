"""Events built by hand for tests: one builder per event type, shared by the test modules."""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

from binance_tool.events import CandleClosed, Direction, Edge70Parameters, Edge70Signal, Market

DAY = 86_400_000


def candle_event(symbol: str, k: Any) -> CandleClosed:
    """The daily `CandleClosed` ingestion publishes for candle `k` (a Candle or Kline) of a USDT market."""
    eid = CandleClosed.id_for("binance", symbol, "1d", k.open_time_ms)
    return CandleClosed(
        event_id=eid,
        correlation_id=eid,
        ts_event_ms=k.open_time_ms + DAY - 1,
        ts_init_ms=0,
        market=Market.spot(symbol[:-4], "USDT"),
        interval="1d",
        open_time_ms=k.open_time_ms,
        close_time_ms=k.open_time_ms + DAY - 1,
        open=k.open,
        high=k.high,
        low=k.low,
        close=k.close,
        volume=k.volume,
    )


def edge70_signal(
    symbol: str,
    direction: Direction,
    price: Decimal,
    event_id: uuid.UUID,
    ts_ms: int = 1,
    candle_open_time_ms: int = 0,
    test: bool = False,
) -> Edge70Signal:
    """A signal of a USDT market flipping from the opposite direction."""
    return Edge70Signal(
        event_id=event_id,
        correlation_id=event_id,
        ts_event_ms=ts_ms,
        ts_init_ms=ts_ms,
        parameters=Edge70Parameters(),
        market=Market.spot(symbol[:-4], "USDT"),
        direction=direction,
        previous_direction=Direction.SHORT if direction is Direction.LONG else Direction.LONG,
        signal_price=price,
        signal_timestamp_ms=ts_ms,
        candle_open_time_ms=candle_open_time_ms,
        test_signal=test,
    )
