"""Events of the edge70 Donchian-breakout edge."""

from __future__ import annotations

from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from binance_tool.edge70.outcome import Edge70Outcome
from binance_tool.events.common import Direction, Market
from binance_tool.events.envelope import Envelope


class Edge70Parameters(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    candle_timeframe: Literal["1d"] = "1d"
    long_lookback: int = Field(default=44, ge=1)
    short_lookback: int = Field(default=21, ge=1)

    @property
    def slug(self) -> str:
        return f"{self.long_lookback}L{self.short_lookback}S"


class Edge70Signal(Envelope):
    """A change of direction of a market with a known previous direction: `long` = enter, `short` = exit
    (on spot: close the position).  Published by edge70-signals; consumed by the position sizer."""

    EXCHANGE: ClassVar[str] = "bt.signals"
    ROUTING_KEY: ClassVar[str] = "signal.{edge}.{direction}.{market.symbol}"
    DESCRIPTION: ClassVar[str] = "edge70 direction change: long = enter, short = close (edge70-signals)."

    object_type: Literal["Edge70Signal"] = "Edge70Signal"
    version: Literal[1] = 1
    edge: Literal["edge70"] = "edge70"
    parameters: Edge70Parameters
    market: Market
    direction: Direction
    previous_direction: Direction
    signal_price: Decimal
    signal_timestamp_ms: int = Field(ge=0)
    candle_open_time_ms: int = Field(ge=0)
    test_signal: bool = False


class Edge70CandleEvaluated(Envelope):
    """The audit record of one evaluation: one per (edge, parameters, market, candle open time)."""

    EXCHANGE: ClassVar[str] = "bt.signals"
    ROUTING_KEY: ClassVar[str] = "evaluated.{edge}.{market.symbol}"
    DESCRIPTION: ClassVar[str] = "Audit record of one edge70 evaluation of a closed daily candle (edge70-signals)."

    object_type: Literal["Edge70CandleEvaluated"] = "Edge70CandleEvaluated"
    version: Literal[1] = 1
    edge: Literal["edge70"] = "edge70"
    parameters: Edge70Parameters
    market: Market
    candle_open_time_ms: int = Field(ge=0)
    close: Decimal
    long_trigger: bool
    short_trigger: bool
    direction: Direction | None
    previous_direction: Direction | None
    outcome: Edge70Outcome
