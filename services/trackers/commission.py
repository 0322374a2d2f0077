"""Prices of commission assets other than base and quote (e.g. fees paid in BNB), so the position's fees and P&L
include them.  The price is read when the fill is first learnt — at fill time for the live stream, later for a
fill back-filled after a gap (documented approximation) — and stored with the fill: a redelivery keeps the first."""

from __future__ import annotations

import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Protocol

import structlog

from binance_tool.exchange.execution import ExchangeUnavailable
from binance_tool.tracking import price_in


class TickerSource(Protocol):
    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]: ...


class CommissionPrices(Protocol):
    async def price(self, asset: str, quote: str) -> Decimal | None:
        """Price of one `asset` in `quote` now; None when the exchange has no pair for it."""


class TickerCommissionPrices:
    """Current prices from the exchange's ticker (all symbols in one request), cached for `ttl_s`."""

    def __init__(self, source: TickerSource, ttl_s: float = 10.0) -> None:
        self._source = source
        self._ttl_s = ttl_s
        self._prices: dict[str, Decimal] = {}
        self._at = float("-inf")
        self._log = structlog.get_logger().bind(component="commission-prices")

    async def price(self, asset: str, quote: str) -> Decimal | None:
        if time.monotonic() - self._at > self._ttl_s:
            try:
                self._prices = await self._source.prices()
                self._at = time.monotonic()
            except ExchangeUnavailable as exc:  # the fee is then listed as unvalued (fees_other), never guessed
                self._log.warning("commission_price_unavailable", asset=asset, error=str(exc))
                return None
        return price_in(asset, quote, self._prices)


class StaticCommissionPrices:
    """Prices from a mapping the caller owns and may change (unit tests)."""

    def __init__(self, prices: dict[str, Decimal] | None = None) -> None:
        self._prices = prices if prices is not None else {}

    async def price(self, asset: str, quote: str) -> Decimal | None:
        return price_in(asset, quote, self._prices)
