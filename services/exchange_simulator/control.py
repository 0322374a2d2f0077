"""Simulator control endpoints (not part of Binance's API): status, pause/resume, advance, speed and faults."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import ValidationError

from services.exchange_simulator.clock import ClockError
from services.exchange_simulator.faults import FaultsUpdate
from services.exchange_simulator.rest import json_response
from services.exchange_simulator.settings import parse_time_ms
from services.exchange_simulator.state import SimState


def _bad(msg: str) -> Response:
    return json_response({"error": msg}, status=400)


def _iso(ms: int | None) -> str | None:
    return None if ms is None else datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat().replace("+00:00", "Z")


def status(state: SimState) -> dict[str, Any]:
    clock = state.clock
    now = clock.now_ms()
    return {
        "simTime": now,
        "simTimeIso": _iso(now),
        "start": clock.start_ms,
        "end": clock.end_ms,
        "speed": clock.speed,
        "paused": clock.paused,
        "running": clock.running,
        "finished": clock.finished,
        "symbols": state.store.symbols,
        "synthesizedSymbols": state.exchange_info.synthesized,
        "loaded": state.store.loaded(),
        "streams": state.hub.status(),
        "faults": state.faults.snapshot(),
        "usedWeight1m": state.weight.used,
        "openOrders": len(state.trading.open_orders(None)),
        "userStreams": state.user_hub.status(),
    }


def build_control_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/sim")
    clock, hub, log = state.clock, state.hub, state.log

    async def settled() -> Response:
        await hub.wait_until(clock.now_ms())
        return json_response(status(state))

    @router.get("/status")
    async def get_status() -> Response:
        return json_response(status(state))

    @router.post("/pause")
    async def pause() -> Response:
        clock.pause()
        hub.wake()
        log.info("clock_paused", sim_time=clock.now_ms())
        return json_response(status(state))

    @router.post("/resume")
    async def resume() -> Response:
        clock.resume()
        hub.wake()
        log.info("clock_resumed", sim_time=clock.now_ms())
        return json_response(status(state))

    @router.post("/speed")
    async def speed(request: Request) -> Response:
        try:
            value = float(request.query_params["value"])
            clock.set_speed(value)
        except (KeyError, ValueError) as err:
            return _bad(f"speed: expected ?value=<simulated seconds per real second >= 0> ({err})")
        hub.wake()
        return json_response(status(state))

    @router.post("/advance")
    async def advance(request: Request) -> Response:
        """`?to=<ms or ISO>` jumps to that instant, `?ms=<n>` moves forward by n ms.  Answers once every stream
        event up to the new time has been queued to the connections."""
        params = request.query_params
        try:
            if "to" in params:
                clock.advance_to(parse_time_ms(params["to"]))
            elif "ms" in params:
                clock.advance_by(int(params["ms"]))
            else:
                return _bad("advance: give ?to=<ms or ISO time> or ?ms=<delta ms>")
        except (ClockError, ValueError) as err:
            return _bad(f"advance: {err}")
        log.info("clock_advanced", sim_time=clock.now_ms())
        return await settled()

    @router.get("/faults")
    async def get_faults() -> Response:
        return json_response(state.faults.snapshot())

    @router.post("/faults")
    async def set_faults(request: Request) -> Response:
        try:
            update = FaultsUpdate.model_validate_json(await request.body() or b"{}")
        except ValidationError as err:
            return _bad(f"faults: {err.errors(include_url=False)}")
        update.apply(state.faults)
        log.info("faults_changed", **state.faults.snapshot())
        return json_response(state.faults.snapshot())

    return router
