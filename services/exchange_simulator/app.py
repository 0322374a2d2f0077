"""Composition root: `build_app(settings)` wires the candle store, clock, exchange info, faults, stream hub and the
simulated account (ledger, matching engine, user data stream) into a FastAPI app (REST under /api/v3, streams under
/ws and /stream, the WebSocket API under /ws-api/v3, control under /sim)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable

import structlog
from fastapi import FastAPI, Request
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from services.exchange_simulator.clock import SimClock
from services.exchange_simulator.control import build_control_router
from services.exchange_simulator.data import CandleStore
from services.exchange_simulator.engine import TradingEngine
from services.exchange_simulator.exchange_info import ExchangeInfo
from services.exchange_simulator.faults import Faults
from services.exchange_simulator.hub import StreamHub
from services.exchange_simulator.ledger import Ledger
from services.exchange_simulator.reply_lost import SimulatorApp
from services.exchange_simulator.rest import (
    BinanceError,
    WeightCounter,
    api_middleware,
    build_router,
    error_response,
    json_response,
)
from services.exchange_simulator.settings import SimulatorSettings
from services.exchange_simulator.state import SimState
from services.exchange_simulator.streams import build_ws_router
from services.exchange_simulator.trading_control import build_trading_control_router
from services.exchange_simulator.trading_rest import OrderCounter, build_trading_router
from services.exchange_simulator.user_stream import UserStreamHub
from services.exchange_simulator.ws_api import build_ws_api_router


def build_state(
    settings: SimulatorSettings, clock: SimClock | None = None, store: CandleStore | None = None
) -> SimState:
    """Load the data (daily candles validated now, hourly lazily) and build the components."""
    if store is None:
        store = CandleStore(settings.sim_data_dir, settings.sim_symbols or None)
    store.load_daily()
    info = ExchangeInfo.load(
        settings.sim_data_dir,
        store.symbols,
        {s: store.series(s, "1d") for s in store.symbols},
        settings.sim_exchange_info_all,
    )
    info.set_request_weight_limit(settings.sim_request_weight_limit)
    clock = clock or SimClock(settings.sim_start, settings.sim_speed, settings.sim_end)
    faults = Faults(
        ws_drop_every=settings.sim_fault_ws_drop_every,
        delay_ms=settings.sim_fault_delay_ms,
        http_429_every=settings.sim_fault_http_429_every,
        retry_after_s=settings.sim_fault_retry_after_s,
        order_429_next=settings.sim_fault_order_429_next,
        order_ban_s=settings.sim_fault_order_ban_s,
        reply_lost_next=settings.sim_fault_reply_lost_next,
        reply_lost_mode=settings.sim_fault_reply_lost_mode,
        reply_lost_hold_s=settings.sim_fault_reply_lost_hold_s,
        user_stream_drop_every=settings.sim_fault_user_stream_drop_every,
    )
    hub = StreamHub(store, clock, settings.sim_ws_queue_size)
    user_hub = UserStreamHub(settings.sim_ws_queue_size)
    traded = [info.symbols[s] for s in store.symbols if s in info.symbols]
    ledger = Ledger(settings.sim_balances, {e[k] for e in traded for k in ("baseAsset", "quoteAsset")})
    engine = TradingEngine(
        store, info, ledger, settings.sim_fee_rate, settings.sim_partial_fill_ratio, publish=user_hub.publish
    )
    hub.boundary_listeners.append(engine.on_boundary)
    return SimState(
        settings=settings,
        clock=clock,
        store=store,
        exchange_info=info,
        faults=faults,
        weight=WeightCounter(),
        hub=hub,
        log=structlog.get_logger("exchange_simulator"),
        trading=engine,
        user_hub=user_hub,
        order_counter=OrderCounter(),
    )


def build_app(
    settings: SimulatorSettings, *, clock: SimClock | None = None, store: CandleStore | None = None
) -> FastAPI:
    """The simulator app.  `clock` and `store` may be injected (tests share one loaded store between apps)."""
    state = build_state(settings, clock, store)

    async def preload_hourly() -> None:
        for symbol in state.store.symbols:
            await asyncio.to_thread(state.store.series, symbol, "1h")
        state.log.info("hourly_candles_preloaded", symbols=len(state.store.symbols))

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        state.clock.restart_real_time()
        state.hub.cursor = state.clock.now_ms()
        task = asyncio.create_task(state.hub.run(), name="sim-clock")
        preload = asyncio.create_task(preload_hourly()) if settings.sim_preload_hourly else None
        state.log.info(
            "simulator_started",
            sim_time=state.clock.now_ms(),
            speed=state.clock.speed,
            symbols=len(state.store.symbols),
            synthesized=state.exchange_info.synthesized,
        )
        try:
            yield
        finally:
            for t in (task, preload):
                if t is not None:
                    t.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await t
            state.log.info("simulator_stopped", sim_time=state.clock.now_ms())

    app = SimulatorApp(title="binance-tool exchange simulator", lifespan=lifespan, docs_url=None, redoc_url=None)
    app.state.sim = state
    app.include_router(build_router(state))
    app.include_router(build_trading_router(state))
    app.include_router(build_ws_router(state))
    app.include_router(build_ws_api_router(state))
    app.include_router(build_control_router(state))
    app.include_router(build_trading_control_router(state))

    @app.exception_handler(BinanceError)
    async def binance_error(_request: Request, err: BinanceError) -> Response:
        return error_response(err)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_request: Request, err: StarletteHTTPException) -> Response:
        if err.status_code == 404:  # Binance: 404 with an empty body for unknown paths
            return Response(status_code=404)
        return json_response({"code": -1000, "msg": str(err.detail)}, status=err.status_code)

    middleware: Callable[..., object] = api_middleware(state)
    app.middleware("http")(middleware)
    return app
