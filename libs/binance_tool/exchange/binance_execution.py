"""SpotExecution + AccountData on python-binance 1.0.37's AsyncClient (signed REST) and its WebSocket-API user
stream, pointed at the simulator, Binance's spot testnet or Binance by `ExchangeSettings` only.

Order calls map every way a request can end to one of the port's four outcomes:

| what happened                                                    | outcome                                    |
|------------------------------------------------------------------|--------------------------------------------|
| 2xx                                                              | ACCEPTED (the order as answered, FULL)     |
| bad form / filters / unknown symbol (checked locally)            | DENIED (Binance's code, nothing sent)      |
| no credentials; IP ban in force; budget exhausted for too long   | DENIED (`rate_limited`, `retry_after_s`)   |
| connection could not be opened (retried a few times first)      | DENIED ("not sent")                        |
| 4xx with an error code (-2010, -2011, -1013, ...)                | REJECTED (code, msg)                       |
| 429 (retried after Retry-After, bounded), 418 (ban starts)       | REJECTED (`rate_limited`, `retry_after_s`) |
| -1021 timestamp outside recvWindow                               | resync server time, retried once           |
| timeout, connection lost, 5xx, -1006/-1007 after sending         | UNKNOWN — never retried; `resolve_unknown` |

Reads raise `ExchangeUnavailable` (transport, 5xx, rate limits; retried a little first) or its subclass
`ExchangeRequestError` (an error code).  Every REST call is paced by `RateLimits` (exchangeInfo.rateLimits and the
X-MBX-* headers of every response, seen through an aiohttp trace hook) — see `binance_rest` and `binance_limits`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import structlog
from binance import AsyncClient

from binance_tool.config import ExchangeSettings
from binance_tool.exchange import binance_parse as parse
from binance_tool.exchange import binance_user_stream
from binance_tool.exchange.binance_limits import RateLimits
from binance_tool.exchange.binance_rest import NO_CREDENTIALS, BinanceRest
from binance_tool.exchange.execution import (
    AccountData,
    Balance,
    ExchangeUnavailable,
    OrderRequest,
    OrderResult,
    OrderState,
    OrderType,
    SpotExecution,
    TimeInForce,
    TradeRecord,
    UserEvent,
)
from binance_tool.exchange.execution_support import (
    ExchangeRequestError,
    check_order,
    denied,
    resolve_unknown,
)
from binance_tool.trading.filters import SymbolFilters, filters_from_exchange_info

__all__ = ["BinanceSpot", "ExchangeRequestError", "resolve_unknown"]

log = structlog.get_logger()

PAGE = 1000
# Request weights (rest-api.md).
W_ORDER, W_CANCEL, W_QUERY, W_OPEN_ONE, W_OPEN_ALL = 1, 1, 4, 6, 80
W_ALL_ORDERS, W_TRADES, W_ACCOUNT, W_PRICE_ONE, W_PRICE_ALL, W_INFO = 20, 20, 20, 2, 4, 20


class BinanceSpot:
    """The exchange port on Binance's REST API.  `close()` ends `user_events()` and releases the connections."""

    def __init__(
        self,
        settings: ExchangeSettings,
        *,
        filters_ttl_s: float = 300.0,
        max_wait_s: float = 30.0,
        rate_limit_retries: int = 3,
        connect_retries: int = 2,
        read_retries: int = 2,
        on_stream_gap: binance_user_stream.StreamGapHandler | None = None,
        limits: RateLimits | None = None,
    ) -> None:
        self._settings = settings
        self._filters_ttl_s = filters_ttl_s
        self._on_stream_gap = on_stream_gap
        self.limits = limits or RateLimits()
        self.rest = BinanceRest(
            settings,
            self.limits,
            max_wait_s=max_wait_s,
            rate_limit_retries=rate_limit_retries,
            connect_retries=connect_retries,
            read_retries=read_retries,
        )
        self._info: dict[str, Any] | None = None
        self._info_at = 0.0
        self._closed = asyncio.Event()
        self.user_stream_subscriptions = 0  # successful (re-)subscriptions, for readiness checks and tests

    # --- SpotExecution ------------------------------------------------------------------------------------------
    async def place_order(self, request: OrderRequest) -> OrderResult:
        try:
            known = await self.symbol_filters()
        except ExchangeUnavailable as exc:  # the exchange checks the filters itself
            log.warning("order_filters_unavailable", symbol=request.symbol, error=str(exc))
            known = None
        if known is not None and request.symbol not in known:
            return denied("Invalid symbol.", -1121)
        if (problem := check_order(request, known.get(request.symbol) if known else None)) is not None:
            return problem
        params: dict[str, Any] = {
            "symbol": request.symbol,
            "side": request.side.value,
            "type": request.type.value,
            "quantity": parse.fmt(request.quantity),
            "newClientOrderId": request.client_order_id,
            "newOrderRespType": "FULL",
        }
        if request.type is not OrderType.MARKET:
            params["timeInForce"] = (request.time_in_force or TimeInForce.GTC).value
        if request.price is not None:
            params["price"] = parse.fmt(request.price)
        if request.stop_price is not None:
            params["stopPrice"] = parse.fmt(request.stop_price)
        result = await self.rest.order("create_order", W_ORDER, 1, **params)
        log.info(
            "order_placed",
            symbol=request.symbol,
            client_order_id=request.client_order_id,
            outcome=result.outcome.value,
            code=result.code,
            reason=result.reason,
        )
        return result

    async def cancel_order(self, symbol: str, client_order_id: str) -> OrderResult:
        result = await self.rest.order("cancel_order", W_CANCEL, 0, symbol=symbol, origClientOrderId=client_order_id)
        log.info(
            "order_cancel",
            symbol=symbol,
            client_order_id=client_order_id,
            outcome=result.outcome.value,
            code=result.code,
        )
        return result

    async def get_order(self, symbol: str, client_order_id: str) -> OrderState | None:
        try:
            data = await self.rest.read("get_order", W_QUERY, symbol=symbol, origClientOrderId=client_order_id)
        except ExchangeRequestError as exc:
            if exc.code == -2013:
                return None
            raise
        return parse.order_state(data)

    async def open_orders(self, symbol: str | None = None) -> list[OrderState]:
        if symbol is None:
            return parse.order_states(await self.rest.read("get_open_orders", W_OPEN_ALL))
        return parse.order_states(await self.rest.read("get_open_orders", W_OPEN_ONE, symbol=symbol))

    # --- AccountData --------------------------------------------------------------------------------------------
    async def balances(self) -> dict[str, Balance]:
        return parse.balances(await self.rest.read("get_account", W_ACCOUNT))

    async def prices(self, symbols: Sequence[str] | None = None) -> dict[str, Decimal]:
        if symbols is not None and len(symbols) == 1:
            rows = [await self.rest.read("get_symbol_ticker", W_PRICE_ONE, signed=False, symbol=symbols[0])]
        else:
            rows = await self.rest.read("get_symbol_ticker", W_PRICE_ALL, signed=False)
        out = {str(r["symbol"]): parse.dec(r["price"]) for r in rows}
        if symbols is None:
            return out
        if missing := [s for s in symbols if s not in out]:
            raise ExchangeRequestError(-1121, f"Invalid symbol. ({', '.join(missing)})", 400)
        return {s: out[s] for s in symbols}

    async def exchange_info(self) -> dict[str, Any]:
        """`GET /api/v3/exchangeInfo`, cached for `filters_ttl_s` (a failed fetch is not cached); also adopts its
        rateLimits."""
        now = time.monotonic()
        if self._info is None or now - self._info_at > self._filters_ttl_s:
            info: dict[str, Any] = await self.rest.read("get_exchange_info", W_INFO, signed=False)
            self.limits.configure(info.get("rateLimits") or ())
            self._info, self._info_at = info, now
        return self._info

    async def symbol_filters(self, symbols: Sequence[str] | None = None) -> dict[str, SymbolFilters]:
        return filters_from_exchange_info(await self.exchange_info(), symbols)

    async def all_orders(self, symbol: str, from_order_id: int | None = None) -> list[OrderState]:
        """Orders with id >= from_order_id (every page); without it, the most recent 1000 (Binance's rule)."""
        rows = await self._paged("get_all_orders", W_ALL_ORDERS, "orderId", "orderId", symbol, from_order_id)
        return parse.order_states(rows)

    async def my_trades(self, symbol: str, from_trade_id: int | None = None) -> list[TradeRecord]:
        """Trades with id >= from_trade_id (every page); without it, the most recent 1000."""
        rows = await self._paged("get_my_trades", W_TRADES, "fromId", "id", symbol, from_trade_id)
        return [parse.trade_record(r) for r in rows]

    async def _paged(
        self, fn: str, weight: int, param: str, id_field: str, symbol: str, start: int | None
    ) -> list[dict[str, Any]]:
        if start is None:
            rows: list[dict[str, Any]] = await self.rest.read(fn, weight, symbol=symbol, limit=PAGE)
            return rows
        out: list[dict[str, Any]] = []
        cursor = start
        while True:
            params: dict[str, Any] = {"symbol": symbol, "limit": PAGE, param: cursor}
            page: list[dict[str, Any]] = await self.rest.read(fn, weight, **params)
            out += page
            if len(page) < PAGE:
                return out
            cursor = int(page[-1][id_field]) + 1

    def user_events(self) -> AsyncIterator[UserEvent]:
        """The account's user data stream, re-subscribing after drops (with `on_stream_gap` after each); it ends
        when `close()` is called.  Each call opens its own WebSocket-API connection."""

        async def make_client() -> AsyncClient:
            """A client of its own for each subscription, signing with a freshly measured server-time offset."""
            if not self.rest.has_credentials:
                raise ExchangeRequestError(None, NO_CREDENTIALS)
            offset = await self.rest.sync_time()
            client = self.rest.new_client()
            client.timestamp_offset = offset
            return client

        def subscribed() -> None:
            self.user_stream_subscriptions += 1

        return binance_user_stream.user_events(
            make_client, self._settings.ws_api_url, self._closed, self._on_stream_gap, subscribed
        )

    async def close(self) -> None:
        self._closed.set()
        await self.rest.close()

    async def __aenter__(self) -> BinanceSpot:
        return self

    async def sync_time(self) -> int:
        """Measure the server-time offset used to sign (done before the first signed call and on -1021)."""
        return await self.rest.sync_time()

    async def server_time_ms(self) -> int:
        """The exchange's clock now (re-measures the offset: a replaying simulator's clock runs fast)."""
        offset = await self.rest.sync_time()
        return int(time.time() * 1000) + offset

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()


if TYPE_CHECKING:  # mypy checks that the adapter implements both ports

    def _implements_the_ports(spot: BinanceSpot) -> tuple[SpotExecution, AccountData]:
        return spot, spot
