"""The WebSocket API at `/ws-api/v3`, for the user data stream: `ping`, `time`, `session.logon` / `.status` /
`.logout`, `session.subscriptions`, `userDataStream.subscribe` (after a logon), `userDataStream.subscribe.signature`
and `userDataStream.unsubscribe`.  Requests `{"id", "method", "params"}` are answered `{"id", "status": 200,
"result": ..., "rateLimits": [...]}` or `{"id", "status": 4xx, "error": {"code", "msg"}}`; events arrive on the same
connection as `{"subscriptionId": N, "event": {...}}`.  Trading methods (`order.place`, ...) are not served."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from services.exchange_simulator.auth import Params, authenticate, check_api_key, missing, ws_payloads
from services.exchange_simulator.rest import BinanceError
from services.exchange_simulator.state import SimState
from services.exchange_simulator.user_stream import DROP, OVERFLOW, ApiConnection
from services.exchange_simulator.ws_common import receive_text, run_until_either_ends

DROP_CODE = 1011  # an abrupt drop as seen by the client
DROP_GRACE_S = 0.1  # let the client read the last event first
WEIGHTS = {"ping": 1, "time": 1}
DEFAULT_WEIGHT = 2


def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class WsApi:
    """Request handling for one simulator (pure apart from the hub and the clock)."""

    def __init__(self, state: SimState) -> None:
        self.state = state
        self.hub = state.user_hub

    def handle(self, conn: ApiConnection, text: str) -> dict[str, Any]:
        try:
            req = orjson.loads(text)
        except orjson.JSONDecodeError:
            return self._error(None, BinanceError(-1135, "Invalid JSON Request"))
        if not isinstance(req, dict):
            return self._error(None, BinanceError(-1135, "Invalid JSON Request"))
        req_id = req.get("id")
        method, params = req.get("method"), req.get("params", {})
        if not isinstance(method, str) or not method:
            return self._error(req_id, missing("method"))
        if not isinstance(params, dict):
            return self._error(req_id, missing("params"))
        method = method.removeprefix("v3/")
        used = self.state.weight.add(WEIGHTS.get(method, DEFAULT_WEIGHT))
        try:
            result = self._dispatch(conn, method, params)
        except BinanceError as err:
            return self._error(req_id, err, used)
        return {"id": req_id, "status": 200, "result": result, "rateLimits": self._limits(used)}

    def _dispatch(self, conn: ApiConnection, method: str, params: dict[str, Any]) -> Any:
        now = self.state.clock.now_ms()
        if method == "ping":
            return {}
        if method == "time":
            return {"serverTime": now}
        if method == "session.logon":
            conn.logon_key = self._signed(params)
            conn.authorized_since = now
            return self._session(conn, now)
        if method == "session.status":
            return self._session(conn, now)
        if method == "session.logout":
            self.hub.unsubscribe(conn, [s for s, k in conn.subscriptions.items() if k == "logon"], now)
            conn.logon_key = conn.authorized_since = None
            return self._session(conn, now)
        if method == "session.subscriptions":
            return [{"subscriptionId": sid} for sid in sorted(conn.subscriptions)]
        if method == "userDataStream.subscribe":
            if conn.logon_key is None:
                raise BinanceError(-1002, "You are not authorized to execute this request.", status=401)
            return {"subscriptionId": self._subscribe(conn, "logon")}
        if method == "userDataStream.subscribe.signature":
            self._signed(params)
            return {"subscriptionId": self._subscribe(conn, "signature")}
        if method == "userDataStream.unsubscribe":
            sid = Params({k: _text(v) for k, v in params.items()}).integer("subscriptionId")
            # an id that is not (or no longer) subscribed is answered like a success
            self.hub.unsubscribe(conn, list(conn.subscriptions) if sid is None else [sid], now)
            return {}
        raise BinanceError(-1020, "This operation is not supported.")

    def _signed(self, params: dict[str, Any]) -> str:
        """apiKey, timestamp, recvWindow and signature of a signed request; returns the API key."""
        settings = self.state.settings
        api_key = params.get("apiKey")
        check_api_key(api_key if isinstance(api_key, str) else None, settings.sim_api_key)
        reader = Params({k: _text(v) for k, v in params.items()})
        authenticate(reader, settings.sim_api_secret, ws_payloads(params), self.state.clock)
        assert isinstance(api_key, str)
        return api_key

    def _subscribe(self, conn: ApiConnection, kind: str) -> int:
        if conn.subscriptions:  # one account: one active subscription per connection, as on Binance
            raise BinanceError(-1020, "This operation is not supported.")
        return self.hub.subscribe(conn, kind)

    def _session(self, conn: ApiConnection, now: int) -> dict[str, Any]:
        return {
            "apiKey": conn.logon_key,
            "authorizedSince": conn.authorized_since,
            "connectedSince": conn.connected_since,
            "returnRateLimits": True,
            "serverTime": now,
            "userDataStream": bool(conn.subscriptions),
        }

    def _limits(self, used: int) -> list[dict[str, Any]]:
        return [
            {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000, "count": used}
        ]

    def _error(self, req_id: object, err: BinanceError, used: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": req_id, "status": err.status, "error": {"code": err.code, "msg": err.msg}}
        if used is not None:
            out["rateLimits"] = self._limits(used)
        return out


def build_ws_api_router(state: SimState) -> APIRouter:
    router = APIRouter()
    api, hub, log = WsApi(state), state.user_hub, state.log

    @router.websocket("/ws-api/v3")
    async def ws_api(websocket: WebSocket) -> None:
        await websocket.accept()
        conn = hub.connect(state.clock.now_ms())
        log.info("ws_api_connected", connection=conn.id)
        try:
            await run_until_either_ends(_read(websocket, conn), _write(websocket, conn))
        finally:
            hub.disconnect(conn)
            log.info("ws_api_disconnected", connection=conn.id, events_sent=conn.events_sent)

    async def _read(websocket: WebSocket, conn: ApiConnection) -> None:
        while (text := await receive_text(websocket)) is not None:
            if not hub.reply(conn, api.handle(conn, text)):
                return

    async def _write(websocket: WebSocket, conn: ApiConnection) -> None:
        try:
            while True:
                item = await conn.queue.get()
                if item is DROP or item is OVERFLOW:
                    log.info("ws_api_closed", connection=conn.id, reason="fault" if item is DROP else "slow client")
                    await websocket.close(code=DROP_CODE if item is DROP else 1008)
                    return
                assert isinstance(item, tuple)
                payload, is_event = item
                await websocket.send_text(payload.decode())
                if not is_event:
                    continue
                conn.events_sent += 1
                if state.faults.should_drop_user_stream(conn.events_sent):
                    log.info("fault_user_stream_drop", connection=conn.id, events_sent=conn.events_sent)
                    hub.disconnect(conn)
                    await asyncio.sleep(DROP_GRACE_S)
                    await websocket.close(code=DROP_CODE, reason="simulated drop")
                    return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return

    return router
