"""Exchange-independent helpers of the execution port, shared by the Binance adapter and the in-memory fake so
both answer alike: the checks made before an order is sent (DENIED), resolving an UNKNOWN outcome, and the error
a read raises when the exchange refuses it."""

from __future__ import annotations

import asyncio
import re
from decimal import Decimal

from binance_tool.exchange.execution import (
    PLACEABLE_ORDER_TYPES,
    ExchangeUnavailable,
    OrderOutcome,
    OrderRequest,
    OrderResult,
    OrderType,
    SpotExecution,
)
from binance_tool.trading.filters import OrderKind, SymbolFilters

CLIENT_ORDER_ID = re.compile(r"^[a-zA-Z0-9_-]{1,36}$")
NOT_PLACED = "not placed"


class ExchangeRequestError(ExchangeUnavailable):
    """A read the exchange refused with an error code (e.g. -1121 invalid symbol, -1022 bad signature): retrying
    the same request will not help.  Still an `ExchangeUnavailable` (nothing was changed; no answer)."""

    def __init__(self, code: int | None, message: str, status: int | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message, self.status = code, message, status


def denied(reason: str, code: int | None = None) -> OrderResult:
    return OrderResult(OrderOutcome.DENIED, code=code, reason=reason)


def check_order(request: OrderRequest, filters: SymbolFilters | None) -> OrderResult | None:
    """DENIED when Binance would refuse the order for its form or the symbol's filters (the code and the start of
    the message are Binance's: -1100 / -1102 / -1013 "Filter failure: <FILTER>"); None when it may be sent.
    MARKET orders are checked on LOT_SIZE only (their notional needs the price the exchange will fill at)."""
    if not CLIENT_ORDER_ID.match(request.client_order_id):
        return denied(
            "Illegal characters found in parameter 'newClientOrderId'; legal range is '^[a-zA-Z0-9-_]{1,36}$'.",
            -1100,
        )
    if request.type not in PLACEABLE_ORDER_TYPES:
        return denied(f"Invalid orderType: {request.type.value} orders are read and tracked, not placed here.", -1116)
    needs_price = request.type in (OrderType.LIMIT, OrderType.STOP_LOSS_LIMIT)
    for name, value, wanted in (
        ("price", request.price, needs_price),
        ("stopPrice", request.stop_price, request.type is OrderType.STOP_LOSS_LIMIT),
    ):
        if wanted and value is None:
            return denied(f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.", -1102)
        if not wanted and value is not None:
            return denied(f"Parameter '{name}' sent when not required.", -1106)
    if filters is None:
        return None
    if request.type is OrderType.MARKET:
        problems = [
            v for v in filters.violations(request.quantity, Decimal(1), OrderKind.MARKET) if v.startswith("LOT_SIZE")
        ]
        if request.quantity <= 0:
            problems.insert(0, f"LOT_SIZE: quantity {request.quantity} must be positive")
    else:
        assert request.price is not None
        problems = filters.violations(request.quantity, request.price, OrderKind.LIMIT)
        if request.stop_price is not None:
            problems += [
                p.replace("PRICE_FILTER: price", "PRICE_FILTER: stopPrice", 1)
                for p in filters.price_violations(request.stop_price)
            ]
    if not problems:
        return None
    first = problems[0]
    name = first.split(":", 1)[0] if ":" in first else "LOT_SIZE" if "quantity" in first else "PRICE_FILTER"
    return denied(f"Filter failure: {name} ({'; '.join(problems)})", -1013)


async def resolve_unknown(
    execution: SpotExecution, symbol: str, client_order_id: str, attempts: int = 5, delay_s: float = 1.0
) -> OrderResult:
    """Settle an UNKNOWN order outcome by querying the client order id.

    ACCEPTED (with the order) as soon as the exchange knows it.  REJECTED with reason "not placed" (code -2013) when
    the last of `attempts` queries, `delay_s` apart, still answers "no such order" — choose `attempts * delay_s`
    longer than the request's recvWindow (5 s by default): Binance refuses a request that reaches it later than
    that, so after it an absent order will never appear.  UNKNOWN again when the last query could not be answered."""
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    last_error = "no query made"
    for attempt in range(attempts):
        if attempt:
            await asyncio.sleep(delay_s)
        try:
            state = await execution.get_order(symbol, client_order_id)
        except ExchangeUnavailable as exc:
            last_error = str(exc)
            continue
        if state is not None:
            return OrderResult(OrderOutcome.ACCEPTED, order=state)
        last_error = ""
    if not last_error:
        return OrderResult(OrderOutcome.REJECTED, code=-2013, reason=NOT_PLACED)
    return OrderResult(OrderOutcome.UNKNOWN, reason=f"still unknown after {attempts} queries: {last_error}")
