"""Websocket market streams in Binance's format: raw `/ws/<stream>` (payload = the event) and combined
`/stream?streams=a/b` (payload wrapped as `{"stream": ..., "data": ...}`), with the SUBSCRIBE / UNSUBSCRIBE /
LIST_SUBSCRIPTIONS / SET_PROPERTY / GET_PROPERTY messages.

An invalid stream name in the URL refuses the handshake (HTTP 400, body `{"code": 2, "msg": ...}`); in a
SUBSCRIBE it is answered with `{"error": {"code": 2, "msg": ...}, "id": N}` and nothing is subscribed.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

import orjson
from fastapi import APIRouter, WebSocket
from starlette.websockets import WebSocketDisconnect

from services.exchange_simulator.hub import CLOSE_SLOW, Connection, InvalidStream
from services.exchange_simulator.rest import json_response
from services.exchange_simulator.state import SimState
from services.exchange_simulator.ws_common import receive_text, run_until_either_ends

MAX_STREAMS = 1024
ID_RE = re.compile(r"^[A-Za-z0-9]{1,36}$")
METHODS = "`SUBSCRIBE`, `UNSUBSCRIBE`, `LIST_SUBSCRIPTIONS`, `SET_PROPERTY`, `GET_PROPERTY`"
DROP_CODE = 1011  # a simulated abrupt drop (the client sees ConnectionClosedError, like a lost connection)
DROP_GRACE_S = 0.1  # let the client read the last message before the drop (python-binance discards what is
# buffered once it sees the socket closed)
SLOW_CODE = 1008  # policy violation: the client did not keep up


def _error(code: int, msg: str, req_id: object = None) -> dict[str, Any]:
    return {"error": {"code": code, "msg": msg}, "id": req_id}


def handle_control(state: SimState, conn: Connection, text: str) -> dict[str, Any]:
    """Answer one client message (Binance live subscribe protocol)."""
    hub = state.hub
    try:
        req = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _error(3, "Invalid JSON: expected value at line 1 column 1")
    if not isinstance(req, dict) or "method" not in req:
        return _error(2, "Invalid request: missing field `method`")
    req_id = req.get("id")
    if not (
        req_id is None
        or (isinstance(req_id, int) and not isinstance(req_id, bool))
        or (isinstance(req_id, str) and ID_RE.match(req_id))
    ):
        return _error(2, "Invalid request: request ID must be an unsigned integer")
    method, params = req["method"], req.get("params", [])
    if not isinstance(params, list):
        return _error(2, "Invalid request: params must be a list", req_id)
    if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
        if not all(isinstance(p, str) for p in params):
            return _error(2, "Invalid request: stream names must be strings", req_id)
        if method == "UNSUBSCRIBE":
            for name in params:
                hub.unsubscribe(conn, name)
            return {"result": None, "id": req_id}
        try:
            keys = [hub.parse(p) for p in params]
        except InvalidStream as bad:
            return _error(2, f"Invalid request: invalid stream name '{bad}'", req_id)
        if len(set(conn.streams) | {k.name for k in keys}) > MAX_STREAMS:
            return _error(2, f"Invalid request: too many streams (max {MAX_STREAMS} per connection)", req_id)
        for key in keys:
            hub.subscribe(conn, key)
        return {"result": None, "id": req_id}
    if method == "LIST_SUBSCRIPTIONS":
        return {"result": sorted(conn.streams), "id": req_id}
    if method in ("SET_PROPERTY", "GET_PROPERTY"):
        if not params or not isinstance(params[0], str):
            return _error(2, "Invalid request: property name must be a string", req_id)
        if params[0] != "combined":
            return {"code": 0, "msg": "Unknown property", "id": req_id}
        if method == "GET_PROPERTY":
            return {"result": conn.combined, "id": req_id}
        if len(params) != 2 or not isinstance(params[1], bool):
            return {"code": 1, "msg": "Invalid value type: expected Boolean", "id": req_id}
        conn.combined = params[1]
        return {"result": None, "id": req_id}
    return _error(2, f"Invalid request: unknown variant {method}, expected one of {METHODS}", req_id)


def build_ws_router(state: SimState) -> APIRouter:
    router = APIRouter()
    hub, log = state.hub, state.log

    async def serve(websocket: WebSocket, names: list[str], combined: bool) -> None:
        try:
            keys = [hub.parse(n) for n in names if n]
        except InvalidStream as bad:
            log.info("ws_rejected", stream=str(bad), path=websocket.url.path)
            body = {"code": 2, "msg": f"Invalid stream name '{bad}'."}
            if "websocket.http.response" in websocket.scope.get("extensions", {}):
                await websocket.send_denial_response(json_response(body, status=400))
            else:  # pragma: no cover - servers without the denial-response extension
                await websocket.close(code=SLOW_CODE)
            return
        if len(keys) > MAX_STREAMS:
            await websocket.send_denial_response(json_response({"code": 2, "msg": "Too many streams."}, 400))
            return
        conn = hub.connect(combined)
        for key in keys:  # subscribe before accepting: the client sees every event after its handshake
            hub.subscribe(conn, key)
        await websocket.accept()
        log.info("ws_connected", connection=conn.id, streams=sorted(conn.streams), sim_time=state.clock.now_ms())
        try:
            await run_until_either_ends(_read(websocket, conn), _write(websocket, conn))
        finally:
            hub.disconnect(conn)
            log.info("ws_disconnected", connection=conn.id, sent=conn.sent)

    async def _read(websocket: WebSocket, conn: Connection) -> None:
        while (text := await receive_text(websocket)) is not None:
            reply = orjson.dumps(handle_control(state, conn, text))
            try:
                conn.queue.put_nowait(reply)
            except asyncio.QueueFull:
                return

    async def _write(websocket: WebSocket, conn: Connection) -> None:
        try:
            while True:
                message = await conn.queue.get()
                if message is CLOSE_SLOW:
                    log.warning("ws_closed_slow_client", connection=conn.id)
                    await websocket.close(code=SLOW_CODE, reason="slow consumer")
                    return
                assert isinstance(message, bytes)
                await websocket.send_text(message.decode())
                conn.sent += 1
                if state.faults.should_drop(conn.sent):
                    log.info("fault_ws_drop", connection=conn.id, sent=conn.sent)
                    await asyncio.sleep(DROP_GRACE_S)
                    await websocket.close(code=DROP_CODE, reason="simulated drop")
                    return
        except (WebSocketDisconnect, RuntimeError, OSError):
            return

    @router.websocket("/ws")
    async def ws_base(websocket: WebSocket) -> None:
        await serve(websocket, [], combined=False)

    @router.websocket("/ws/{streams:path}")
    async def ws_raw(websocket: WebSocket, streams: str) -> None:
        await serve(websocket, streams.split("/"), combined=False)

    @router.websocket("/stream")
    async def ws_combined(websocket: WebSocket) -> None:
        await serve(websocket, websocket.query_params.get("streams", "").split("/"), combined=True)

    return router
