"""The REST transport under `BinanceSpot`: python-binance's AsyncClient pointed by `ExchangeSettings`, paced by
`RateLimits` (which sees the X-MBX-* headers of every response through an aiohttp trace hook), with Binance's
back-off rules, the server-time offset, and the mapping of every way a call can end.

- `read()` — ExchangeUnavailable after `read_retries` (transport, 5xx, rate limits), ExchangeRequestError for an
  error code;
- `order()` — an OrderResult with one of the four outcomes (see `binance_execution`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import aiohttp
import structlog
from binance import AsyncClient
from binance.exceptions import BinanceAPIException, BinanceRequestException
from binance.ws.websocket_api import WebsocketAPI

from binance_tool.config import ExchangeSettings
from binance_tool.exchange import binance_parse as parse
from binance_tool.exchange.binance_limits import RateLimited, RateLimits, retry_after_s
from binance_tool.exchange.execution import ExchangeUnavailable, OrderOutcome, OrderResult
from binance_tool.exchange.execution_support import ExchangeRequestError, denied

log = structlog.get_logger()

UNKNOWN_CODES = {-1006, -1007}  # "execution status unknown" (errors.md)
W_TIME = 1
NO_CREDENTIALS = "no API key/secret configured (BINANCE_API_KEY, BINANCE_API_SECRET)"


class _NotSent(Exception):
    """The connection could not be opened: the request never left."""


class BinanceRest:
    def __init__(
        self,
        settings: ExchangeSettings,
        limits: RateLimits,
        *,
        max_wait_s: float,
        rate_limit_retries: int,
        connect_retries: int,
        read_retries: int,
    ) -> None:
        self._settings = settings
        self.limits = limits
        self._max_wait_s = max_wait_s
        self._rate_limit_retries = rate_limit_retries
        self._connect_retries = connect_retries
        self._read_retries = read_retries
        self._client: AsyncClient | None = None
        self._time_synced = False

    @property
    def has_credentials(self) -> bool:
        return self._settings.credentials is not None

    def new_client(self) -> AsyncClient:
        s = self._settings
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(self._on_response)
        total = s.binance_request_timeout_s
        client = AsyncClient(
            *(s.credentials or (None, None)),
            requests_params={"timeout": aiohttp.ClientTimeout(total=total, sock_connect=min(total, 5.0))},
            session_params={"trace_configs": [trace]},
        )
        client.API_URL = s.rest_api_url
        client.ws_api = WebsocketAPI(url=s.ws_api_url)
        return client

    async def _on_response(self, _session: Any, _ctx: Any, params: aiohttp.TraceRequestEndParams) -> None:
        self.limits.observe(params.response.headers)

    async def _get_client(self) -> AsyncClient:
        if self._client is None:
            self._client = self.new_client()
        return self._client

    @property
    def timestamp_offset(self) -> int:
        """Server time minus local time in ms, as last measured (0 before the first measurement)."""
        offset: int = self._client.timestamp_offset if self._client is not None else 0
        return offset

    async def sync_time(self) -> int:
        """Measure the server-time offset (python-binance's `timestamp_offset`, used to sign); the offset in ms."""
        client = await self._get_client()
        t0 = time.time()
        res = await self._send(client, "get_server_time", W_TIME, signed=False)
        t1 = time.time()
        client.timestamp_offset = int(int(res["serverTime"]) - (t0 + t1) * 500)
        self._time_synced = True
        offset: int = client.timestamp_offset
        return offset

    async def _send(
        self, client: AsyncClient, fn: str, weight: int, *, orders: int = 0, signed: bool = True, **params: Any
    ) -> Any:
        """One REST call, paced; retries 429 after Retry-After (bounded) and -1021 once after a resync.  Raises
        RateLimited (before sending or after the retries), _NotSent, BinanceAPIException, or the transport error."""
        if signed and not self._time_synced:
            await self.sync_time()
        resynced, rate_retries, connect_tries = False, 0, 0
        while True:
            await self._pace(weight, orders)
            try:
                return await getattr(client, fn)(**params)
            except BinanceAPIException as exc:
                headers = getattr(exc.response, "headers", None)
                if exc.status_code == 418:
                    ban = retry_after_s(headers) or 120.0
                    self.limits.ban(ban)
                    log.error("exchange_ip_banned", call=fn, retry_after_s=ban)
                    raise RateLimited(ban, banned=True, what="HTTP 418", sent=True, code=exc.code) from exc
                if exc.status_code == 429:
                    wait_s = retry_after_s(headers)
                    if wait_s is None:
                        wait_s = self.limits.orders_exhausted() if exc.code == -1015 else 1.0
                    self.limits.pause(wait_s)
                    rate_retries += 1
                    log.warning("exchange_429", call=fn, code=exc.code, retry_after_s=wait_s, attempt=rate_retries)
                    if rate_retries > self._rate_limit_retries or wait_s > self._max_wait_s:
                        raise RateLimited(wait_s, what=f"HTTP 429 {exc.code}", sent=True, code=exc.code) from exc
                    continue
                if exc.code == -1021 and signed and not resynced:
                    resynced = True
                    log.warning("exchange_clock_resync", call=fn)
                    try:
                        await self.sync_time()
                    except Exception:
                        raise exc from None  # the -1021 stands: nothing was done
                    continue
                raise
            except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
                connect_tries += 1
                if connect_tries > self._connect_retries:
                    raise _NotSent(repr(exc)) from exc
                await asyncio.sleep(0.2 * 2**connect_tries)

    async def _pace(self, weight: int, orders: int) -> None:
        """Wait until the request fits the budget (raises RateLimited when banned or the wait is too long)."""
        while True:
            wait = self.limits.reserve(weight, orders, self._max_wait_s)
            if wait <= 0:
                return
            await asyncio.sleep(wait)

    async def read(self, fn: str, weight: int, *, signed: bool = True, **params: Any) -> Any:
        """A read: transport failures and 5xx retried `read_retries` times, then ExchangeUnavailable."""
        if signed and not self.has_credentials:
            raise ExchangeRequestError(None, NO_CREDENTIALS)
        client = await self._get_client()
        last: Exception | None = None
        for attempt in range(self._read_retries + 1):
            if attempt:
                await asyncio.sleep(0.25 * 2**attempt)
            try:
                return await self._send(client, fn, weight, signed=signed, **params)
            except RateLimited as exc:
                raise ExchangeUnavailable(str(exc)) from exc
            except BinanceAPIException as exc:
                if exc.status_code < 500:
                    raise ExchangeRequestError(exc.code, str(exc.message), exc.status_code) from exc
                last = exc
            except (_NotSent, BinanceRequestException, TimeoutError, aiohttp.ClientError, OSError) as exc:
                last = exc
        raise ExchangeUnavailable(f"{fn}: {last!r}")

    async def order(self, fn: str, weight: int, orders: int, **params: Any) -> OrderResult:
        if not self.has_credentials:
            return denied(NO_CREDENTIALS)
        client = await self._get_client()
        if not self._time_synced:
            try:
                await self.sync_time()
            except Exception as exc:
                return denied(f"not sent: server time unavailable ({exc!r})")
        try:
            data = await self._send(client, fn, weight, orders=orders, **params)
            return OrderResult(OrderOutcome.ACCEPTED, order=parse.order_state(data))
        except RateLimited as exc:
            outcome = OrderOutcome.REJECTED if exc.sent else OrderOutcome.DENIED
            return OrderResult(
                outcome, code=exc.code, reason=str(exc), rate_limited=True, retry_after_s=exc.retry_after_s
            )
        except _NotSent as exc:
            return denied(f"not sent: cannot connect to the exchange ({exc})")
        except BinanceAPIException as exc:
            if exc.status_code >= 500 or exc.code in UNKNOWN_CODES:
                return OrderResult(OrderOutcome.UNKNOWN, code=exc.code, reason=f"HTTP {exc.status_code}: {exc.message}")
            return OrderResult(OrderOutcome.REJECTED, code=exc.code, reason=str(exc.message))
        except (BinanceRequestException, TimeoutError, aiohttp.ClientError, OSError) as exc:
            return OrderResult(OrderOutcome.UNKNOWN, reason=f"no answer: {exc!r}")

    async def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                await self._client.close_connection()
            self._client = None
            self._time_synced = False  # a new client starts with no offset
