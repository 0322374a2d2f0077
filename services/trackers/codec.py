"""JSON encodings of the pure tracking values kept in Redis, and the event → domain mappings.

Decimals are strings, enums their value; every decoder is the exact inverse of its encoder, so a value read
back equals the value written (the permutation-invariance guarantees of the pure domain survive storage).
"""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from binance_tool.events import ExecutionReportReceived
from binance_tool.exchange.execution import ExecutionReport, OrderStatus, OrderType, Side
from binance_tool.tracking import OrderFill, Position, PositionFill, TrackedOrder
from binance_tool.trading.filters import SymbolFilters


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (Side, OrderType, OrderStatus)):
        return value.value
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    return value


# --- orders -------------------------------------------------------------------------------------------------


def order_fill_to_dict(fill: OrderFill) -> dict[str, Any]:
    return {f.name: _plain(getattr(fill, f.name)) for f in dataclasses.fields(fill)}


def order_fill_from_dict(d: dict[str, Any]) -> OrderFill:
    return OrderFill(
        trade_id=int(d["trade_id"]),
        price=Decimal(d["price"]),
        quantity=Decimal(d["quantity"]),
        commission=Decimal(d["commission"]),
        commission_asset=str(d["commission_asset"]),
        time_ms=int(d["time_ms"]),
    )


def order_to_dict(order: TrackedOrder) -> dict[str, Any]:
    out = {f.name: _plain(getattr(order, f.name)) for f in dataclasses.fields(order) if f.name != "fills"}
    out["fills"] = [order_fill_to_dict(f) for f in order.fills]
    return out


def order_from_dict(d: dict[str, Any]) -> TrackedOrder:
    r = d["rank"]
    return TrackedOrder(
        symbol=d["symbol"],
        order_id=int(d["order_id"]),
        client_order_id=d["client_order_id"],
        side=Side(d["side"]),
        type=OrderType(d["type"]),
        status=OrderStatus(d["status"]),
        orig_qty=Decimal(d["orig_qty"]),
        price=Decimal(d["price"]),
        stop_price=Decimal(d["stop_price"]),
        executed_qty=Decimal(d["executed_qty"]),
        cumulative_quote_qty=Decimal(d["cumulative_quote_qty"]),
        transaction_time_ms=int(d["transaction_time_ms"]),
        event_time_ms=int(d["event_time_ms"]),
        rank=(int(r[0]), Decimal(r[1]), int(r[2]), Decimal(r[3]), int(r[4]), str(r[5])),
        fills=tuple(order_fill_from_dict(f) for f in d["fills"]),
    )


# --- positions ----------------------------------------------------------------------------------------------


def position_fill_to_dict(fill: PositionFill) -> dict[str, Any]:
    return {f.name: _plain(getattr(fill, f.name)) for f in dataclasses.fields(fill)}


def position_fill_from_dict(d: dict[str, Any]) -> PositionFill:
    return PositionFill(
        trade_id=int(d["trade_id"]),
        order_id=int(d["order_id"]),
        side=Side(d["side"]),
        quantity=Decimal(d["quantity"]),
        price=Decimal(d["price"]),
        commission=Decimal(d["commission"]),
        commission_asset=str(d["commission_asset"]),
        time_ms=int(d["time_ms"]),
        edge=d["edge"],
        commission_price=None if d.get("commission_price") is None else Decimal(d["commission_price"]),
    )


_POSITION_DECIMALS = (
    "quantity", "cost_basis", "realised_pnl", "fees_quote", "unmatched_sell_qty", "unmatched_proceeds",
    "bought_qty", "sold_qty", "period_realised_pnl", "period_cost",
)  # fmt: skip


def position_to_dict(p: Position) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(p):
        value = getattr(p, f.name)
        if f.name in ("fees_by_asset", "fees_other"):
            value = {k: str(v) for k, v in value.items()}
        out[f.name] = _plain(value)
    return out


def position_from_dict(d: dict[str, Any]) -> Position:
    """The exact inverse of `position_to_dict` (a decoded position equals the one encoded)."""
    key = d["last_fill_key"]
    return Position(
        symbol=d["symbol"],
        base_asset=d["base_asset"],
        quote_asset=d["quote_asset"],
        edge=d["edge"],
        **{name: Decimal(d[name]) for name in _POSITION_DECIMALS},
        fees_by_asset=MappingProxyType({k: Decimal(v) for k, v in d["fees_by_asset"].items()}),
        fees_other=MappingProxyType({k: Decimal(v) for k, v in d["fees_other"].items()}),
        opened_ms=d["opened_ms"],
        closed_ms=d["closed_ms"],
        closed=bool(d["closed"]),
        last_price=None if d["last_price"] is None else Decimal(d["last_price"]),
        last_fill_key=None if key is None else (int(key[0]), int(key[1])),
        fill_count=int(d["fill_count"]),
    )


def filters_to_dict(filters: SymbolFilters) -> dict[str, Any]:
    return {f.name: _plain(getattr(filters, f.name)) for f in dataclasses.fields(filters)}


def filters_from_dict(d: dict[str, Any]) -> SymbolFilters:
    values: dict[str, Any] = {}
    for f in dataclasses.fields(SymbolFilters):
        if f.name not in d:
            continue
        default = f.default
        values[f.name] = Decimal(d[f.name]) if isinstance(default, Decimal) else d[f.name]
    return SymbolFilters(**values)


def decimals_to_dict(values: dict[str, Decimal]) -> dict[str, str]:
    return {k: str(v) for k, v in sorted(values.items())}


def decimals_from_dict(d: dict[str, str]) -> dict[str, Decimal]:
    return {k: Decimal(v) for k, v in d.items()}


# --- events → domain ----------------------------------------------------------------------------------------


def execution_report_of(event: ExecutionReportReceived) -> ExecutionReport:
    """The pure domain's report.  Raises ValueError for an order type or status the domain does not model."""
    return ExecutionReport(
        symbol=event.symbol,
        client_order_id=event.client_order_id,
        original_client_order_id=event.original_client_order_id,
        side=Side(event.side),
        type=OrderType(event.order_type),
        execution_type=event.execution_type,
        status=OrderStatus(event.order_status),
        order_id=event.order_id,
        orig_qty=event.orig_qty,
        price=event.price,
        stop_price=event.stop_price,
        last_qty=event.last_qty,
        last_price=event.last_price,
        cumulative_qty=event.cumulative_qty,
        cumulative_quote_qty=event.cumulative_quote_qty,
        commission=event.commission,
        commission_asset=event.commission_asset,
        trade_id=event.trade_id,
        event_time_ms=event.ts_event_ms,
        transaction_time_ms=event.transaction_time_ms,
    )


def position_fill_of(event: ExecutionReportReceived) -> PositionFill | None:
    """The fill a TRADE report carries (None for other reports), with the edge of the order."""
    if event.execution_type != "TRADE" or event.trade_id < 0 or event.last_qty <= 0:
        return None
    return PositionFill(
        trade_id=event.trade_id,
        order_id=event.order_id,
        side=Side(event.side),
        quantity=event.last_qty,
        price=event.last_price,
        commission=event.commission,
        commission_asset=event.commission_asset or "",
        time_ms=event.transaction_time_ms,
        edge=event.edge,
    )
