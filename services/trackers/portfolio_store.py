"""portfolio-tracker state: the account's balances (each asset with the exchange time of its last report), the last
prices read, and the last valuation.  `PortfolioStore` is the port, `RedisPortfolioStore` the adapter (balances
updated with a WATCH/MULTI optimistic transaction), `InMemoryPortfolioStore` the fake; both store the same JSON.

Redis keys (JSON strings, no TTL; layout in docs/trackers.md):
- `portfolio:<account>:balances` — {asset: {free, locked, time_ms}}
- `portfolio:<account>:prices`   — {"time_ms": …, "prices": {symbol: price}}
- `portfolio:<account>:latest`   — the last `PortfolioValued` event (JSON)
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import WatchError

from binance_tool.events import PortfolioValued
from binance_tool.tracking import HeldBalance
from services.trackers.store import ContentionError

Balances = dict[str, HeldBalance]
BalancesChange = Callable[[Balances], Balances]


def balances_key(account: str) -> str:
    return f"portfolio:{account}:balances"


def prices_key(account: str) -> str:
    return f"portfolio:{account}:prices"


def latest_key(account: str) -> str:
    return f"portfolio:{account}:latest"


def encode_balances(balances: Mapping[str, HeldBalance]) -> str:
    body = {
        a: {"free": str(b.free), "locked": str(b.locked), "time_ms": b.time_ms} for a, b in sorted(balances.items())
    }
    return json.dumps(body, separators=(",", ":"))


def decode_balances(raw: str | bytes | None) -> Balances:
    if raw is None:
        return {}
    return {
        a: HeldBalance(a, Decimal(d["free"]), Decimal(d["locked"]), int(d["time_ms"]))
        for a, d in json.loads(raw).items()
    }


def encode_prices(prices: Mapping[str, Decimal], time_ms: int) -> str:
    return json.dumps({"time_ms": time_ms, "prices": {s: str(p) for s, p in sorted(prices.items())}})


def decode_prices(raw: str | bytes | None) -> tuple[dict[str, Decimal], int]:
    if raw is None:
        return {}, 0
    d = json.loads(raw)
    return {s: Decimal(p) for s, p in d["prices"].items()}, int(d["time_ms"])


class PortfolioStore(Protocol):
    async def update_balances(self, account: str, change: BalancesChange) -> tuple[Balances, Balances]:
        """(before, after); `change` is pure and may run more than once; returning an equal dict writes nothing."""
        ...

    async def balances(self, account: str) -> Balances: ...

    async def set_prices(self, account: str, prices: Mapping[str, Decimal], time_ms: int) -> None: ...

    async def prices(self, account: str) -> tuple[dict[str, Decimal], int]: ...

    async def set_latest(self, account: str, event: PortfolioValued) -> None: ...

    async def latest(self, account: str) -> PortfolioValued | None: ...


class RedisPortfolioStore:
    def __init__(self, redis: Redis, attempts: int = 100) -> None:
        self._redis = redis
        self._attempts = attempts

    async def update_balances(self, account: str, change: BalancesChange) -> tuple[Balances, Balances]:
        key = balances_key(account)
        for _ in range(self._attempts):
            async with self._redis.pipeline(transaction=True) as pipe:
                try:
                    await pipe.watch(key)
                    before = decode_balances(await pipe.get(key))
                    after = change(before)
                    if after == before:
                        await pipe.unwatch()
                        return before, before
                    pipe.multi()
                    pipe.set(key, encode_balances(after))
                    await pipe.execute()
                    return before, after
                except WatchError:
                    continue
        raise ContentionError(f"{key}: {self._attempts} optimistic attempts lost")

    async def balances(self, account: str) -> Balances:
        return decode_balances(await self._redis.get(balances_key(account)))

    async def set_prices(self, account: str, prices: Mapping[str, Decimal], time_ms: int) -> None:
        await self._redis.set(prices_key(account), encode_prices(prices, time_ms))

    async def prices(self, account: str) -> tuple[dict[str, Decimal], int]:
        return decode_prices(await self._redis.get(prices_key(account)))

    async def set_latest(self, account: str, event: PortfolioValued) -> None:
        await self._redis.set(latest_key(account), event.model_dump_json())

    async def latest(self, account: str) -> PortfolioValued | None:
        raw = await self._redis.get(latest_key(account))
        return None if raw is None else PortfolioValued.model_validate_json(raw)


class InMemoryPortfolioStore:
    """The fake: same JSON as Redis, in a dict."""

    def __init__(self) -> None:
        self.data: dict[str, str] = {}

    async def update_balances(self, account: str, change: BalancesChange) -> tuple[Balances, Balances]:
        before = decode_balances(self.data.get(balances_key(account)))
        after = change(before)
        if after != before:
            self.data[balances_key(account)] = encode_balances(after)
        return before, after

    async def balances(self, account: str) -> Balances:
        return decode_balances(self.data.get(balances_key(account)))

    async def set_prices(self, account: str, prices: Mapping[str, Decimal], time_ms: int) -> None:
        self.data[prices_key(account)] = encode_prices(prices, time_ms)

    async def prices(self, account: str) -> tuple[dict[str, Decimal], int]:
        return decode_prices(self.data.get(prices_key(account)))

    async def set_latest(self, account: str, event: PortfolioValued) -> None:
        self.data[latest_key(account)] = event.model_dump_json()

    async def latest(self, account: str) -> PortfolioValued | None:
        raw = self.data.get(latest_key(account))
        return None if raw is None else PortfolioValued.model_validate_json(raw)
