"""Value types shared by events: markets, directions."""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict


class Direction(StrEnum):
    LONG = "long"
    SHORT = "short"


class Market(BaseModel):
    """A spot market on an exchange, e.g. binance spot BTC/USDT."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    exchange: str = "binance"
    type: str = "spot"
    base_asset: str
    quote_asset: str
    symbol: str

    @classmethod
    def spot(cls, base_asset: str, quote_asset: str, exchange: str = "binance") -> Market:
        return cls(
            exchange=exchange,
            type="spot",
            base_asset=base_asset,
            quote_asset=quote_asset,
            symbol=f"{base_asset}{quote_asset}",
        )
