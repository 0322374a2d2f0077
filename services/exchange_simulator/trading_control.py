"""Control endpoints of the simulated account (not part of Binance's API): inspect the account, deposit or
withdraw (a `balanceUpdate` event), and drop every user-data-stream connection now."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from fastapi import APIRouter, Request
from fastapi.responses import Response

from services.exchange_simulator.rest import BinanceError, json_response
from services.exchange_simulator.settings import ASSET_RE
from services.exchange_simulator.state import SimState


def build_trading_control_router(state: SimState) -> APIRouter:
    router = APIRouter(prefix="/sim")
    engine, log = state.trading, state.log

    @router.get("/account")
    async def account() -> Response:
        return json_response(
            {
                "balances": engine.ledger.rest(),
                "openOrders": [o.query() for o in engine.open_orders(None)],
                "userStreams": state.user_hub.status(),
            }
        )

    @router.post("/balance")
    async def balance(request: Request) -> Response:
        """`?asset=USDT&delta=100` (negative: a withdrawal)."""
        asset = request.query_params.get("asset", "").upper()
        try:
            delta = Decimal(request.query_params.get("delta", ""))
        except InvalidOperation:
            delta = Decimal("NaN")
        if not ASSET_RE.match(asset) or not delta.is_finite() or delta == 0:
            return json_response({"error": "balance: give ?asset=<ASSET>&delta=<non-zero decimal>"}, status=400)
        try:
            engine.adjust_balance(asset, delta, state.clock.now_ms())
        except BinanceError as err:
            return json_response({"error": err.msg}, status=400)
        log.info("balance_adjusted", asset=asset, delta=str(delta))
        return json_response({"balances": engine.ledger.rest()})

    @router.post("/user-stream/drop")
    async def drop_user_streams() -> Response:
        dropped = state.user_hub.drop_all()
        log.info("fault_user_streams_dropped", connections=dropped)
        return json_response({"dropped": dropped})

    return router
