"""Pure translation of the account's stream events and REST answers into bus events.

The ids are those of `ExecutionReportReceived.id_for` / `AccountBalancesUpdated.id_for`, so the stream and a REST
back-fill give the same id for the same fact (an order's NEW / CANCELED / EXPIRED / REJECTED, one trade).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from binance_tool.events import AccountBalancesUpdated, ExecutionReportReceived
from binance_tool.events.account import BalanceEntry, edge_of_client_order_id
from binance_tool.events.envelope import deterministic_id
from binance_tool.exchange.execution import AccountPosition, Balance, ExecutionReport, OrderState, TradeRecord

# The execution type a back-fill reports for an order in this state (FILLED: its trades say everything).
EXECUTION_TYPE_OF_STATUS = {
    "NEW": "NEW",
    "PARTIALLY_FILLED": "NEW",
    "PENDING_CANCEL": "NEW",
    "CANCELED": "CANCELED",
    "EXPIRED": "EXPIRED",
    "EXPIRED_IN_MATCH": "EXPIRED",
    "REJECTED": "REJECTED",
}
_RANK = {"NEW": 0, "TRADE": 1}


@dataclass(frozen=True)
class Origin:
    exchange: str
    account: str


def _report_id(origin: Origin, symbol: str, order_id: int, execution_type: str, trade_id: int) -> uuid.UUID:
    return ExecutionReportReceived.id_for(origin.exchange, origin.account, symbol, order_id, execution_type, trade_id)


def _edge(client_order_id: str, original_client_order_id: str) -> str | None:
    # On a cancel the stream's `c` is the cancel request's own id; the order's id (and so its edge) is in `C`.
    return edge_of_client_order_id(original_client_order_id or client_order_id)


def from_stream(r: ExecutionReport, origin: Origin, now_ms: int) -> ExecutionReportReceived:
    return ExecutionReportReceived(
        event_id=ExecutionReportReceived.id_for(
            origin.exchange, origin.account, r.symbol, r.order_id, r.execution_type, r.trade_id
        ),
        correlation_id=deterministic_id("Order", origin.exchange, origin.account, r.symbol, r.order_id),
        ts_event_ms=max(r.event_time_ms, 0),
        ts_init_ms=now_ms,
        exchange=origin.exchange,
        account=origin.account,
        source="stream",
        symbol=r.symbol,
        client_order_id=r.client_order_id,
        original_client_order_id=r.original_client_order_id,
        edge=_edge(r.client_order_id, r.original_client_order_id),
        order_id=r.order_id,
        side=r.side.value,
        order_type=r.type.value,
        execution_type=r.execution_type,
        order_status=r.status.value,
        orig_qty=r.orig_qty,
        price=r.price,
        stop_price=r.stop_price,
        last_qty=r.last_qty,
        last_price=r.last_price,
        cumulative_qty=r.cumulative_qty,
        cumulative_quote_qty=r.cumulative_quote_qty,
        commission=r.commission,
        commission_asset=r.commission_asset,
        trade_id=r.trade_id if r.execution_type == "TRADE" else -1,
        transaction_time_ms=max(r.transaction_time_ms, 0),
    )


def _entries(balances: Iterable[Balance]) -> tuple[BalanceEntry, ...]:
    return tuple(
        BalanceEntry(asset=b.asset, free=b.free, locked=b.locked) for b in sorted(balances, key=lambda b: b.asset)
    )


def balances_from_stream(p: AccountPosition, origin: Origin, now_ms: int) -> AccountBalancesUpdated:
    entries = _entries(p.balances)
    event_id = AccountBalancesUpdated.id_for(origin.exchange, origin.account, p.update_time_ms, entries)
    return AccountBalancesUpdated(
        event_id=event_id,
        correlation_id=event_id,
        ts_event_ms=max(p.event_time_ms, 0),
        ts_init_ms=now_ms,
        exchange=origin.exchange,
        account=origin.account,
        source="stream",
        update_time_ms=max(p.update_time_ms, 0),
        balances=entries,
    )


def balances_snapshot(
    balances: Mapping[str, Balance], origin: Origin, exchange_time_ms: int, now_ms: int
) -> AccountBalancesUpdated:
    entries = _entries(balances.values())
    event_id = AccountBalancesUpdated.id_for(origin.exchange, origin.account, exchange_time_ms, entries)
    return AccountBalancesUpdated(
        event_id=event_id,
        correlation_id=event_id,
        ts_event_ms=exchange_time_ms,
        ts_init_ms=now_ms,
        exchange=origin.exchange,
        account=origin.account,
        source="rest-snapshot",
        update_time_ms=exchange_time_ms,
        balances=entries,
    )


def order_report(o: OrderState, origin: Origin, now_ms: int) -> ExecutionReportReceived | None:
    """The report of an order's current state (None for FILLED: its trades are reported one by one)."""
    execution_type = EXECUTION_TYPE_OF_STATUS.get(o.status.value)
    if execution_type is None:
        return None
    at = o.time_ms if execution_type == "NEW" else (o.update_time_ms or o.time_ms)
    return ExecutionReportReceived(
        event_id=_report_id(origin, o.symbol, o.order_id, execution_type, -1),
        correlation_id=deterministic_id("Order", origin.exchange, origin.account, o.symbol, o.order_id),
        ts_event_ms=max(at, 0),
        ts_init_ms=now_ms,
        exchange=origin.exchange,
        account=origin.account,
        source="rest-backfill",
        symbol=o.symbol,
        client_order_id=o.client_order_id,
        edge=edge_of_client_order_id(o.client_order_id),
        order_id=o.order_id,
        side=o.side.value,
        order_type=o.type.value,
        execution_type=execution_type,
        order_status=o.status.value,
        orig_qty=o.orig_qty,
        price=o.price,
        stop_price=o.stop_price,
        last_qty=Decimal(0),
        last_price=Decimal(0),
        cumulative_qty=o.executed_qty,
        cumulative_quote_qty=o.cummulative_quote_qty,
        commission=Decimal(0),
        commission_asset=None,
        trade_id=-1,
        transaction_time_ms=max(at, 0),
    )


def trade_reports(
    trades: Sequence[TradeRecord], orders: Mapping[int, OrderState], origin: Origin, now_ms: int
) -> list[ExecutionReportReceived]:
    """One TRADE report per trade.  Cumulative figures come from the order when it is known: its executed
    quantity less the later trades of it in `trades` (what the stream said at that fill), never less than the
    trade itself; for an unknown order, the trade's own figures."""
    later_qty: dict[int, Decimal] = {}
    later_quote: dict[int, Decimal] = {}
    out: list[ExecutionReportReceived] = []
    for t in sorted(trades, key=lambda t: t.trade_id, reverse=True):
        order = orders.get(t.order_id)
        cum_qty, cum_quote = t.quantity, t.quote_quantity
        if order is not None:
            cum_qty = max(order.executed_qty - later_qty.get(t.order_id, Decimal(0)), t.quantity)
            cum_quote = max(order.cummulative_quote_qty - later_quote.get(t.order_id, Decimal(0)), t.quote_quantity)
        later_qty[t.order_id] = later_qty.get(t.order_id, Decimal(0)) + t.quantity
        later_quote[t.order_id] = later_quote.get(t.order_id, Decimal(0)) + t.quote_quantity
        filled = order is not None and cum_qty >= order.orig_qty
        out.append(
            ExecutionReportReceived(
                event_id=ExecutionReportReceived.id_for(
                    origin.exchange, origin.account, t.symbol, t.order_id, "TRADE", t.trade_id
                ),
                correlation_id=deterministic_id("Order", origin.exchange, origin.account, t.symbol, t.order_id),
                ts_event_ms=max(t.time_ms, 0),
                ts_init_ms=now_ms,
                exchange=origin.exchange,
                account=origin.account,
                source="rest-backfill",
                symbol=t.symbol,
                client_order_id=order.client_order_id if order else "",
                edge=edge_of_client_order_id(order.client_order_id) if order else None,
                order_id=t.order_id,
                side=order.side.value if order else ("BUY" if t.is_buyer else "SELL"),
                order_type=order.type.value if order else "UNKNOWN",
                execution_type="TRADE",
                order_status="FILLED" if filled else "PARTIALLY_FILLED",
                orig_qty=order.orig_qty if order else t.quantity,
                price=order.price if order else t.price,
                stop_price=order.stop_price if order else Decimal(0),
                last_qty=t.quantity,
                last_price=t.price,
                cumulative_qty=cum_qty,
                cumulative_quote_qty=cum_quote,
                commission=t.commission,
                commission_asset=t.commission_asset,
                trade_id=t.trade_id,
                transaction_time_ms=max(t.time_ms, 0),
            )
        )
    out.reverse()
    return out


def in_exchange_order(reports: Iterable[ExecutionReportReceived]) -> list[ExecutionReportReceived]:
    """Back-filled reports in the order the stream would have given them: time, then NEW < TRADE < the end."""
    return sorted(
        reports, key=lambda r: (r.transaction_time_ms, r.order_id, _RANK.get(r.execution_type, 2), r.trade_id)
    )
