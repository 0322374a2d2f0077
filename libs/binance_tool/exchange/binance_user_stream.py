"""The account's user data stream over Binance's WebSocket API, through python-binance 1.0.37's
`BinanceSocketManager.user_socket()` (a signed `userDataStream.subscribe.signature` on `AsyncClient.ws_api`;
events arrive as `{"subscriptionId": N, "event": {...}}` on that connection).  The listenKey stream is gone.

python-binance reconnects a dropped WebSocket-API connection by itself but does not subscribe again, so the
events would silently stop.  Here each subscription gets its own `WebsocketAPI` with python-binance's own
reconnection switched off (`MAX_RECONNECTS = 0`): a drop surfaces as an error message on the socket, the
connection is discarded and a new one subscribes, with exponential back-off.  After every re-subscription the
`on_gap` callback runs before further events are yielded, so the caller can back-fill what the gap may have hidden
(`allOrders` / `myTrades` from its last seen ids).

Three internals of python-binance 1.0.37 (pinned exactly) are touched, each to close a connection promptly:
`WebsocketAPI.ws_state` / `.ws` and `KeepAliveWebsocket._subscription_id`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import structlog
from binance import AsyncClient, BinanceSocketManager
from binance.ws.constants import WSListenerState
from binance.ws.keepalive_websocket import KeepAliveWebsocket
from binance.ws.websocket_api import WebsocketAPI

from binance_tool.exchange import binance_parse as parse
from binance_tool.exchange.execution import UserEvent

log = structlog.get_logger()

StreamGapHandler = Callable[[], Awaitable[None]]
RECONNECT_EVENTS = {"error", "eventStreamTerminated", "serverShutdown"}


async def _close_api(api: WebsocketAPI) -> None:
    api.ws_state = WSListenerState.EXITING  # the read loop stops at its next turn instead of reconnecting
    if api.ws is not None:
        with contextlib.suppress(Exception):
            await api.ws.close()  # wakes the read loop now rather than after its 10 s poll
    with contextlib.suppress(Exception):
        await asyncio.wait_for(api.close(), 5)


@contextlib.asynccontextmanager
async def subscription(client: AsyncClient, ws_api_url: str) -> AsyncIterator[KeepAliveWebsocket]:
    """One subscription on a fresh WebSocket-API connection; unsubscribes (when still connected) and closes."""
    api = WebsocketAPI(url=ws_api_url)
    api.MAX_RECONNECTS = 0
    client.ws_api = api
    sock = BinanceSocketManager(client).user_socket()
    entered = False
    try:
        await sock.__aenter__()
        entered = True
        yield sock
    finally:
        if entered:
            if api.ws_state is not WSListenerState.STREAMING:
                sock._subscription_id = None  # the connection is gone: nothing to unsubscribe, do not reconnect
            with contextlib.suppress(Exception):
                await asyncio.wait_for(sock.__aexit__(None, None, None), 3)
        await _close_api(api)


async def _next(sock: KeepAliveWebsocket, closed: asyncio.Event) -> dict[str, Any] | None:
    """The next message, or None once `closed` is set."""
    recv = asyncio.ensure_future(sock.recv())
    stop = asyncio.ensure_future(closed.wait())
    try:
        await asyncio.wait({recv, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not recv.done():
            recv.cancel()
    if recv.done() and not recv.cancelled():
        msg: dict[str, Any] = recv.result()
        return msg
    return None


async def user_events(
    make_client: Callable[[], Awaitable[AsyncClient]],
    ws_api_url: str,
    closed: asyncio.Event,
    on_gap: StreamGapHandler | None = None,
    on_subscribed: Callable[[], None] | None = None,
    max_backoff_s: float = 30.0,
) -> AsyncIterator[UserEvent]:
    """Executions and account positions until `closed` is set, re-subscribing after every drop.

    `make_client` gives a signed, time-synced AsyncClient for one subscription (it is closed afterwards);
    `on_subscribed` is told of every subscription in place (before `on_gap`)."""
    backoff = 0.5
    subscribed_before = False
    while not closed.is_set():
        client: AsyncClient | None = None
        try:
            client = await make_client()
            async with subscription(client, ws_api_url) as sock:
                log.info("user_stream_subscribed", resubscribed=subscribed_before)
                if on_subscribed is not None:
                    on_subscribed()
                if subscribed_before and on_gap is not None:
                    await on_gap()
                subscribed_before = True
                while (msg := await _next(sock, closed)) is not None:
                    kind = msg.get("e")
                    if kind in RECONNECT_EVENTS:
                        log.warning("user_stream_interrupted", kind=kind, error=msg.get("m") or msg.get("type"))
                        break
                    if (event := parse.user_event(msg)) is not None:
                        backoff = 0.5
                        yield event
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # could not connect or subscribe (exchange down, bad key, clock): try again
            log.warning("user_stream_subscribe_failed", error=repr(exc), backoff_s=backoff)
        finally:
            if client is not None:
                with contextlib.suppress(Exception):
                    await client.close_connection()
        if not closed.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(closed.wait(), backoff)
            backoff = min(backoff * 2, max_backoff_s)
