"""The Trade Abstraction Service's HTTP API (FastAPI): thin routes over `SpotExecutor`.

Authentication: `Authorization: Bearer <token>`; tokens map to roles (`TAS_TOKENS`). Only the `sizer` role may open
positions (the quantity is the position sizer's decision; nobody else can size a trade); `sizer` and `operator` may
close and move stops; any valid token may read positions.  No token → 401, a token without the role → 403.
`Idempotency-Key`: the first response for a key is stored and replayed for every retry with the same key
(`Idempotent-Replayed: true`); a retry while the first is still executing gets 409 IN_PROGRESS.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.background import BackgroundTask
from starlette.exceptions import HTTPException as StarletteHTTPException

from binance_tool.bus.api import Publisher
from binance_tool.clock import Clock
from binance_tool.events import Market, SendUserMessage, Severity, TradeResult, deterministic_id
from binance_tool.exchange.execution import ExchangeUnavailable
from binance_tool.health import Health
from services.trade_abstraction.executor import Outcome, SpotExecutor
from services.trade_abstraction.models import (
    HTTP_STATUS,
    CloseRequest,
    LongRequest,
    MoveStopRequest,
    PositionView,
    ShortRequest,
    TradeResponse,
    TradeStatus,
)

SERVICE = "trade-abstraction"
OPEN_ENTRY_STATUSES = ("PENDING", "UNKNOWN", "NEW", "PARTIALLY_FILLED")
log = structlog.get_logger()
bearer = HTTPBearer(auto_error=False)
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", max_length=200, pattern=r"^[A-Za-z0-9._:-]+$", description="retry-safe key"),
]


@dataclass(frozen=True)
class Principal:
    name: str
    role: str


@dataclass
class TasDeps:
    executor: SpotExecutor
    publisher: Publisher | None
    clock: Clock
    tokens: Mapping[str, Principal]  # token → principal
    health: Health


def build_app(deps: TasDeps) -> FastAPI:
    app = FastAPI(
        title="binance-tool Trade Abstraction Service",
        version="1.0.0",
        description="Spot trading commands: long, close, move-stop. Results are explicit statuses.",
    )
    auth: dict[int | str, dict[str, Any]] = {
        401: {"description": "no or unknown bearer token"},
        403: {"description": "the token's role may not do this"},
    }
    by_code: dict[int, list[str]] = {}
    for status, code in HTTP_STATUS.items():
        by_code.setdefault(code, []).append(status.value)
    responses: dict[int | str, dict[str, Any]] = auth | {
        code: {"model": TradeResponse, "description": "status " + " / ".join(names)}
        for code, names in sorted(by_code.items())
    }

    def principal(creds: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:
        if creds is None or creds.scheme.lower() != "bearer":
            raise HTTPException(401, "a bearer token is required", headers={"WWW-Authenticate": "Bearer"})
        for token, who in deps.tokens.items():
            if hmac.compare_digest(token.encode(), creds.credentials.encode()):
                return who
        raise HTTPException(401, "unknown token", headers={"WWW-Authenticate": "Bearer"})

    def require(*roles: str) -> Callable[[Principal], Principal]:
        def check(who: Principal = Depends(principal)) -> Principal:
            if who.role not in roles:
                raise HTTPException(403, f"role {who.role!r} may not do this (needs {' or '.join(roles)})")
            return who

        return check

    async def run(
        action: str,
        who: Principal,
        key: str | None,
        edge: str,
        symbol: str,
        command: Callable[[], Awaitable[Outcome]],
    ) -> JSONResponse:
        scope = f"{who.name}:{action}"
        if key is not None:
            seen = await deps.executor.store.idempotency_begin(scope, key)
            if seen is not None and seen.get("state") == "done":
                body, code = seen.get("body"), seen.get("status_code")
                headers = {"Idempotent-Replayed": "true"}
                return JSONResponse(body, status_code=int(str(code)), headers=headers)
            if seen is not None:
                out = Outcome(TradeStatus.IN_PROGRESS, f"a request with Idempotency-Key {key} is still executing")
                return _respond(out, edge, symbol)
        try:
            outcome = await command()
        except ExchangeUnavailable as exc:
            outcome = Outcome(TradeStatus.EXCHANGE_UNAVAILABLE, f"exchange unavailable: {exc}", retry_allowed=True)
        except BaseException:
            if key is not None:
                await deps.executor.store.idempotency_abandon(scope, key)
            raise
        response = _respond(outcome, edge, symbol)
        # The result event goes out after the reply (the trade's state is already stored; the event informs).
        response.background = BackgroundTask(_publish, deps, action, outcome, edge, symbol, key)
        if key is not None:
            if outcome.retry_allowed or outcome.status is TradeStatus.UNKNOWN_OUTCOME:
                await deps.executor.store.idempotency_abandon(scope, key)
            else:
                await deps.executor.store.idempotency_finish(
                    scope, key, response.status_code, _body(outcome, edge, symbol).model_dump(mode="json")
                )
        return response

    @app.post("/spot/long", response_model=TradeResponse, status_code=201, responses=responses)
    async def long(
        req: LongRequest, who: Principal = Depends(require("sizer")), idempotency_key: IdempotencyKey = None
    ) -> JSONResponse:
        """Open a long position: LIMIT buy at signal price + the edge's cap; every fill is protected by a stop."""
        return await run("long", who, idempotency_key, req.edge, req.symbol, lambda: deps.executor.long(req))

    @app.post("/spot/close", response_model=TradeResponse, responses=responses)
    async def close(
        req: CloseRequest,
        who: Principal = Depends(require("sizer", "operator")),
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Close a position: cancel its stop and any working entry, sell the position at market."""
        return await run("close", who, idempotency_key, req.edge, req.symbol, lambda: deps.executor.close(req))

    @app.post("/spot/move-stop", response_model=TradeResponse, responses=responses)
    async def move_stop(
        req: MoveStopRequest,
        who: Principal = Depends(require("sizer", "operator")),
        idempotency_key: IdempotencyKey = None,
    ) -> JSONResponse:
        """Cancel and replace the position's stop (refused if the new stop is not below the market)."""
        return await run("move-stop", who, idempotency_key, req.edge, req.symbol, lambda: deps.executor.move_stop(req))

    @app.post("/spot/short", response_model=TradeResponse, status_code=400, responses=responses)
    async def short(req: ShortRequest, who: Principal = Depends(principal)) -> JSONResponse:
        """Not possible on spot (use /spot/close to exit a long)."""
        return _respond(Outcome(TradeStatus.NOT_SUPPORTED, "short is not supported on spot"), req.edge, req.symbol)

    @app.get("/spot/positions", response_model=list[PositionView], responses=auth)
    async def positions(who: Principal = Depends(principal)) -> list[PositionView]:
        """Active trades (entering or open) with their entry and stop."""
        return [
            PositionView(
                trade_id=r.trade_id,
                edge=r.edge,
                symbol=r.symbol,
                state=r.state.value,
                entry_client_order_id=r.entry_client_id,
                entry_status=r.entry_status,
                quantity=r.executed_qty - r.exit_qty,
                entry_limit=r.entry_limit,
                entry_pending_qty=(
                    r.entry_qty - r.executed_qty if r.entry_status in OPEN_ENTRY_STATUSES else Decimal(0)
                ),
                average_entry_price=r.average_entry,
                stop_price=r.stop_price,
                stop_quantity=r.stop_qty,
                opened_at_ms=r.created_ms,
            )
            for r in await deps.executor.store.active_trades()
        ]

    @app.get("/health")
    async def health() -> JSONResponse:
        return JSONResponse({"status": "ok" if deps.health.alive else "unhealthy"}, 200 if deps.health.alive else 503)

    @app.get("/ready")
    async def ready() -> JSONResponse:
        return JSONResponse({"ready": deps.health.ready}, 200 if deps.health.ready else 503)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', 'invalid')}"
            for e in exc.errors()
        )
        raw = exc.body if isinstance(exc.body, dict) else {}
        edge = str(raw.get("edge", ""))[:20]
        symbol = str(raw.get("symbol", ""))[:20]
        return _respond(Outcome(TradeStatus.BAD_REQUEST, f"invalid request: {reasons}"[:2000]), edge, symbol)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:  # e.g. a body that is not JSON
            return _respond(Outcome(TradeStatus.BAD_REQUEST, f"invalid request: {exc.detail}"), "", "")
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=getattr(exc, "headers", None))

    @app.exception_handler(ExchangeUnavailable)
    async def _unavailable(request: Request, exc: ExchangeUnavailable) -> JSONResponse:
        return JSONResponse({"status": "EXCHANGE_UNAVAILABLE", "msg": str(exc)}, 503)

    return app


def _body(outcome: Outcome, edge: str, symbol: str) -> TradeResponse:
    record = outcome.trade
    return TradeResponse(
        status=outcome.status,
        http_status=HTTP_STATUS[outcome.status],
        msg=outcome.msg,
        edge=edge,
        symbol=symbol,
        trade_id=record.trade_id if record else None,
        orders=outcome.orders,
        executed_qty=record.executed_qty if record else 0,
        executed_quote=record.executed_quote if record else 0,
        retry_after_s=outcome.retry_after_s,
    )


def _respond(outcome: Outcome, edge: str, symbol: str) -> JSONResponse:
    body = _body(outcome, edge, symbol)
    headers = {"Retry-After": str(max(1, round(outcome.retry_after_s)))} if outcome.retry_after_s else None
    return JSONResponse(body.model_dump(mode="json"), status_code=body.http_status, headers=headers)


async def _publish(deps: TasDeps, action: str, outcome: Outcome, edge: str, symbol: str, key: str | None) -> None:
    if deps.publisher is None:
        return
    body = _body(outcome, edge, symbol)
    now = deps.clock.now_ms()
    record = outcome.trade
    base = record.base_asset if record else symbol.removesuffix("USDT")
    quote = record.quote_asset if record else "USDT"
    market = Market(base_asset=base, quote_asset=quote, symbol=symbol)
    event_id = deterministic_id("TradeResult", action, edge, symbol, key or now, body.status, body.trade_id)
    correlation = deterministic_id("trade", body.trade_id) if body.trade_id else event_id
    result = TradeResult(
        event_id=event_id,
        correlation_id=correlation,
        ts_event_ms=now,
        ts_init_ms=now,
        action=action,
        status=body.status.value,
        http_status=body.http_status,
        edge=edge,
        market=market,
        trade_id=body.trade_id,
        idempotency_key=key,
        msg=body.msg,
        orders=tuple(body.orders),
        executed_qty=body.executed_qty,
        executed_quote=body.executed_quote,
    )
    severity = Severity.WARNING if body.http_status >= 400 else Severity.INFO
    message = SendUserMessage(
        event_id=deterministic_id("SendUserMessage", event_id),
        correlation_id=correlation,
        ts_event_ms=now,
        ts_init_ms=now,
        service=SERVICE,
        kind=f"tas.{action}",
        severity=severity,
        text=f"{action.upper()} {edge} {symbol}: {body.status.value} — {body.msg}",
        tags={"edge": edge, "symbol": symbol, "status": body.status.value},
    )
    try:
        await deps.publisher.publish_many([result, message])
    except Exception as exc:  # the trade happened; a lost notification must not turn it into an error
        log.error("tas_publish_failed", error=repr(exc), action=action, symbol=symbol)
