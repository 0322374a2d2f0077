"""MarketData on python-binance's AsyncClient and BinanceSocketManager.

Only the base URLs differ between Binance, its spot testnet and the local simulator (`ExchangeSettings`).
REST calls are paced by a request-weight limiter and retried on 429/418 after `Retry-After`; other 4xx errors
are raised as they are.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import structlog
from aiolimiter import AsyncLimiter
from binance import AsyncClient, BinanceSocketManager
from binance.exceptions import BinanceAPIException, BinanceRequestException

from binance_tool.config import ExchangeSettings
from binance_tool.exchange.market_data import Kline, StreamInterrupted, StreamItem, interval_ms

log = structlog.get_logger()

KLINES_PAGE = 1000
KLINES_WEIGHT = 2  # limit 100..1000 (Binance rest-api.md)
DEFAULT_WEIGHT_PER_MINUTE = 6000


class ExchangeUnavailable(RuntimeError):
    """The exchange did not answer usefully after the retry budget."""


class BinanceMarketData:
    def __init__(
        self,
        settings: ExchangeSettings,
        weight_per_minute: int = DEFAULT_WEIGHT_PER_MINUTE,
        max_attempts: int = 8,
        stream_queue_size: int = 100_000,
    ) -> None:
        self._settings = settings
        self._client: AsyncClient | None = None
        self._limiter = AsyncLimiter(int(weight_per_minute * 0.8), 60)
        self._max_attempts = max_attempts
        self._stream_queue_size = stream_queue_size

    async def _get_client(self) -> AsyncClient:
        if self._client is None:
            s = self._settings
            client = AsyncClient(
                s.binance_api_key.get_secret_value() if s.binance_api_key else None,
                s.binance_api_secret.get_secret_value() if s.binance_api_secret else None,
                requests_params={"timeout": aiohttp.ClientTimeout(total=s.binance_request_timeout_s)},
            )
            client.API_URL = s.rest_api_url
            self._client = client
        return self._client

    async def _call(self, weight: int, fn: str, **params: Any) -> Any:
        client = await self._get_client()
        delay = 0.5
        for attempt in range(1, self._max_attempts + 1):
            await self._limiter.acquire(weight)
            try:
                return await getattr(client, fn)(**params)
            except BinanceAPIException as exc:
                if exc.status_code not in (418, 429) and exc.status_code < 500:
                    raise
                retry_after = _retry_after_s(exc) or delay
                log.warning(
                    "exchange_backoff",
                    call=fn,
                    status=exc.status_code,
                    code=exc.code,
                    retry_after_s=retry_after,
                    attempt=attempt,
                )
                await asyncio.sleep(retry_after)
            except (BinanceRequestException, TimeoutError, aiohttp.ClientError, OSError) as exc:
                log.warning("exchange_request_failed", call=fn, error=repr(exc), attempt=attempt)
                await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        raise ExchangeUnavailable(f"{fn} failed after {self._max_attempts} attempts")

    async def server_time_ms(self) -> int:
        res = await self._call(1, "get_server_time")
        return int(res["serverTime"])

    async def exchange_info(self) -> dict[str, Any]:
        res: dict[str, Any] = await self._call(20, "get_exchange_info")
        return res

    async def closed_klines(
        self,
        symbol: str,
        interval: str,
        start_ms: int,
        end_ms: int | None = None,
    ) -> list[Kline]:
        now = await self.server_time_ms()
        end = now if end_ms is None else min(end_ms, now)
        out: list[Kline] = []
        cursor = start_ms
        while cursor <= end:
            rows = await self._call(
                KLINES_WEIGHT,
                "get_klines",
                symbol=symbol,
                interval=interval,
                startTime=cursor,
                endTime=end,
                limit=KLINES_PAGE,
            )
            if not rows:
                break
            page = [Kline.from_rest(symbol, interval, r, now) for r in rows]
            out.extend(k for k in page if k.closed)
            cursor = page[-1].open_time_ms + interval_ms(interval)
            if len(rows) < KLINES_PAGE:
                break
        return out

    async def recent_closed_klines(self, symbol: str, interval: str, count: int) -> list[Kline]:
        now = await self.server_time_ms()
        step = interval_ms(interval)
        start = max(0, (now // step - count - 1) * step)
        klines = await self.closed_klines(symbol, interval, start, now)
        return klines[-count:]

    async def kline_stream(self, symbols: list[str], interval: str) -> AsyncIterator[StreamItem]:
        """Combined kline stream that survives drops: after each reconnect it yields StreamInterrupted."""
        client = await self._get_client()
        streams = [f"{s.lower()}@kline_{interval}" for s in symbols]
        first = True
        backoff = 0.5
        while True:
            bsm = BinanceSocketManager(client, max_queue_size=self._stream_queue_size)
            bsm.STREAM_URL = self._settings.stream_url
            try:
                async with bsm.multiplex_socket(streams) as socket:
                    if not first:
                        yield StreamInterrupted("reconnected")
                    first = False
                    backoff = 0.5
                    while True:
                        msg = await socket.recv()
                        if msg is None:
                            continue
                        if msg.get("e") == "error":
                            # python-binance reconnects by itself; anything may have been missed meanwhile.
                            log.warning("kline_stream_interrupted", error=msg.get("m") or msg.get("type"))
                            yield StreamInterrupted(str(msg.get("type", "error")))
                            continue
                        data = msg.get("data", msg)
                        if data.get("e") == "kline":
                            yield Kline.from_stream(data["k"])
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the socket gave up (max reconnects) or failed to connect
                log.warning("kline_stream_reconnecting", error=repr(exc), backoff_s=backoff)
                first = False
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 30.0)

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close_connection()
            self._client = None


def _retry_after_s(exc: BinanceAPIException) -> float | None:
    headers = getattr(exc.response, "headers", None)
    if headers is None:
        return None
    value = headers.get("Retry-After")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None
