"""The operator's kill switch: Redis key `trading:mode` = active | reduce-only | halted (absent = active).

Set it with `binance-tool trading mode <mode>`; the position sizer reads it before every sizing decision."""

from __future__ import annotations

from typing import Protocol

from redis.asyncio import Redis

from binance_tool.trading import TradingMode

MODE_KEY = "trading:mode"


class ModeStore(Protocol):
    async def get(self) -> TradingMode: ...

    async def set(self, mode: TradingMode) -> None: ...


class RedisModeStore:
    def __init__(self, redis: Redis) -> None:
        self._r = redis

    async def get(self) -> TradingMode:
        raw = await self._r.get(MODE_KEY)
        if raw is None:
            return TradingMode.ACTIVE
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        try:
            return TradingMode(text)
        except ValueError:  # an unreadable switch must stop trading, not ignore the operator
            return TradingMode.HALTED

    async def set(self, mode: TradingMode) -> None:
        await self._r.set(MODE_KEY, mode.value)


class InMemoryModeStore:
    def __init__(self, mode: TradingMode = TradingMode.ACTIVE) -> None:
        self.mode = mode

    async def get(self) -> TradingMode:
        return self.mode

    async def set(self, mode: TradingMode) -> None:
        self.mode = mode
