"""Binance spot JSON → the execution port's values (Decimal from the exchange's strings, never through float).

Order types and statuses the port does not model (an order list's PENDING_NEW, a type Binance adds later) raise
`UnsupportedOrder`; list readers skip such orders with a warning instead of failing the whole answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import structlog

from binance_tool.exchange.execution import (
    AccountPosition,
    Balance,
    ExecutionReport,
    Fill,
    OrderState,
    OrderStatus,
    OrderType,
    Side,
    TradeRecord,
)

log = structlog.get_logger()
ZERO = Decimal(0)


class UnsupportedOrder(ValueError):
    """An order of a type or status the port does not model."""


def dec(value: Any) -> Decimal:
    """A Decimal from the exchange's string (or int); floats are refused so no binary rounding sneaks in."""
    if value is None or value == "":
        return ZERO
    if isinstance(value, float):
        raise TypeError(f"refusing float {value!r}: Binance sends decimals as strings")
    try:
        return Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"not a decimal: {value!r}") from None


def fmt(value: Decimal) -> str:
    """A Decimal as Binance wants it in a parameter: plain notation, no exponent."""
    return format(value, "f")


def _enum_type(value: Any) -> OrderType:
    try:
        return OrderType(str(value))
    except ValueError:
        raise UnsupportedOrder(f"order type {value!r} is not modelled") from None


def _enum_status(value: Any) -> OrderStatus:
    try:
        return OrderStatus(str(value))
    except ValueError:
        raise UnsupportedOrder(f"order status {value!r} is not modelled") from None


def order_state(data: Mapping[str, Any]) -> OrderState:
    """An order from `GET/POST/DELETE /api/v3/order`, `openOrders` or `allOrders`.  A cancel answer carries the
    order's own id as `origClientOrderId` (its `clientOrderId` is the cancel request's)."""
    fills = tuple(
        Fill(
            trade_id=int(f.get("tradeId", -1)),
            price=dec(f["price"]),
            quantity=dec(f["qty"]),
            commission=dec(f.get("commission")),
            commission_asset=str(f.get("commissionAsset", "")),
        )
        for f in data.get("fills", ())
    )
    placed = int(data.get("time", data.get("transactTime", 0)))
    return OrderState(
        symbol=str(data["symbol"]),
        order_id=int(data["orderId"]),
        client_order_id=str(data.get("origClientOrderId") or data["clientOrderId"]),
        side=Side(str(data["side"])),
        type=_enum_type(data["type"]),
        status=_enum_status(data["status"]),
        orig_qty=dec(data["origQty"]),
        executed_qty=dec(data["executedQty"]),
        cummulative_quote_qty=dec(data["cummulativeQuoteQty"]),
        price=dec(data.get("price")),
        stop_price=dec(data.get("stopPrice")),
        time_ms=placed,
        update_time_ms=int(data.get("updateTime", data.get("transactTime", placed))),
        fills=fills,
    )


def order_states(rows: Iterable[Mapping[str, Any]]) -> list[OrderState]:
    out = []
    for row in rows:
        try:
            out.append(order_state(row))
        except UnsupportedOrder as exc:
            log.warning("order_skipped", symbol=row.get("symbol"), order_id=row.get("orderId"), reason=str(exc))
    return out


def trade_record(data: Mapping[str, Any]) -> TradeRecord:
    return TradeRecord(
        symbol=str(data["symbol"]),
        trade_id=int(data["id"]),
        order_id=int(data["orderId"]),
        price=dec(data["price"]),
        quantity=dec(data["qty"]),
        quote_quantity=dec(data["quoteQty"]),
        commission=dec(data["commission"]),
        commission_asset=str(data["commissionAsset"]),
        time_ms=int(data["time"]),
        is_buyer=bool(data["isBuyer"]),
    )


def balances(account: Mapping[str, Any]) -> dict[str, Balance]:
    """`GET /api/v3/account` → balances by asset (zero balances left out)."""
    out = {}
    for b in account.get("balances", ()):
        balance = Balance(str(b["asset"]), dec(b["free"]), dec(b["locked"]))
        if balance.total:
            out[balance.asset] = balance
    return out


def execution_report(event: Mapping[str, Any]) -> ExecutionReport:
    commission_asset = event.get("N")
    return ExecutionReport(
        symbol=str(event["s"]),
        client_order_id=str(event["c"]),
        original_client_order_id=str(event.get("C") or ""),
        side=Side(str(event["S"])),
        type=_enum_type(event["o"]),
        execution_type=str(event["x"]),
        status=_enum_status(event["X"]),
        order_id=int(event["i"]),
        orig_qty=dec(event["q"]),
        price=dec(event.get("p")),
        stop_price=dec(event.get("P")),
        last_qty=dec(event.get("l")),
        last_price=dec(event.get("L")),
        cumulative_qty=dec(event.get("z")),
        cumulative_quote_qty=dec(event.get("Z")),
        commission=dec(event.get("n")),
        commission_asset=None if commission_asset is None else str(commission_asset),
        trade_id=int(event.get("t", -1)),
        event_time_ms=int(event["E"]),
        transaction_time_ms=int(event.get("T", event["E"])),
        raw=dict(event),
    )


def account_position(event: Mapping[str, Any]) -> AccountPosition:
    return AccountPosition(
        event_time_ms=int(event["E"]),
        update_time_ms=int(event.get("u", event["E"])),
        balances=tuple(Balance(str(b["a"]), dec(b["f"]), dec(b["l"])) for b in event.get("B", ())),
    )


def user_event(event: Mapping[str, Any]) -> ExecutionReport | AccountPosition | None:
    """The port's value for a user-data event, or None for kinds it does not carry (balanceUpdate, listStatus,
    eventStreamTerminated, ...) and orders it does not model."""
    kind = event.get("e")
    try:
        if kind == "executionReport":
            return execution_report(event)
        if kind == "outboundAccountPosition":
            return account_position(event)
    except UnsupportedOrder as exc:
        log.warning("user_event_skipped", kind=kind, reason=str(exc))
    return None
