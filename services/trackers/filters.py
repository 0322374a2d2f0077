"""Symbol filters (LOT_SIZE minQty, MIN_NOTIONAL) for deciding when a position is closed, behind a small port."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Protocol

import structlog

from binance_tool.exchange.execution import AccountData
from binance_tool.trading.filters import SymbolFilters


class FiltersProvider(Protocol):
    async def get(self, symbol: str) -> SymbolFilters | None:
        """The symbol's filters; None when the exchange does not list it."""


class StaticFilters:
    """A fixed mapping (unit tests, backtests)."""

    def __init__(self, filters: Mapping[str, SymbolFilters]) -> None:
        self._filters = dict(filters)

    async def get(self, symbol: str) -> SymbolFilters | None:
        return self._filters.get(symbol)


class ExchangeFilters:
    """Every symbol's filters from the exchange (`AccountData.symbol_filters`), cached; reloaded when older than
    `refresh_s` or when an unknown symbol is asked for (at most once per `miss_reload_s`)."""

    def __init__(self, account: AccountData, refresh_s: float = 3600.0, miss_reload_s: float = 60.0) -> None:
        self._account = account
        self._refresh_s = refresh_s
        self._miss_reload_s = miss_reload_s
        self._filters: dict[str, SymbolFilters] = {}
        self._loaded_at = float("-inf")
        self._log = structlog.get_logger().bind(component="filters")

    async def load(self) -> None:
        self._filters = await self._account.symbol_filters()
        self._loaded_at = time.monotonic()
        self._log.info("symbol_filters_loaded", symbols=len(self._filters))

    async def get(self, symbol: str) -> SymbolFilters | None:
        age = time.monotonic() - self._loaded_at
        if age > self._refresh_s or (symbol not in self._filters and age > self._miss_reload_s):
            await self.load()
        return self._filters.get(symbol)
