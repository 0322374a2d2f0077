"""Orders and trades of the simulated account and their Binance wire formats (REST responses, `executionReport`).
Pure: no I/O."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from services.exchange_simulator.ledger import ZERO, fmt8

OPEN_STATUSES = frozenset({"NEW", "PARTIALLY_FILLED"})
ZERO8 = "0.00000000"


@dataclass
class Trade:
    symbol: str
    id: int
    order_id: int
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
    order_list_id: int = -1

    def rest(self) -> dict[str, Any]:
        """`GET /api/v3/myTrades` entry."""
        return {
            "symbol": self.symbol,
            "id": self.id,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "price": fmt8(self.price),
            "qty": fmt8(self.qty),
            "quoteQty": fmt8(self.quote_qty),
            "commission": fmt8(self.commission),
            "commissionAsset": self.commission_asset,
            "time": self.time,
            "isBuyer": self.is_buyer,
            "isMaker": self.is_maker,
            "isBestMatch": True,
        }

    def fill(self) -> dict[str, Any]:
        """A `fills` entry of a FULL order response."""
        return {
            "price": fmt8(self.price),
            "qty": fmt8(self.qty),
            "commission": fmt8(self.commission),
            "commissionAsset": self.commission_asset,
            "tradeId": self.id,
        }


@dataclass
class Order:
    symbol: str
    order_id: int
    client_order_id: str
    side: str  # BUY | SELL
    type: str  # MARKET | LIMIT | LIMIT_MAKER | STOP_LOSS_LIMIT
    time_in_force: str  # GTC | IOC | FOK (LIMIT kinds); GTC reported for MARKET
    orig_qty: Decimal
    time: int  # creation (simulated ms)
    price: Decimal = ZERO
    stop_price: Decimal = ZERO
    orig_quote_order_qty: Decimal = ZERO
    executed_qty: Decimal = ZERO
    cum_quote: Decimal = ZERO
    status: str = "NEW"
    update_time: int = 0
    working_time: int | None = None  # when it started working (on the book / triggered)
    locked_asset: str = ""
    locked_remaining: Decimal = ZERO  # an OCO's legs both carry the list's single lock while both are open
    trades: list[Trade] = field(default_factory=list)
    order_list_id: int = -1

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def remaining(self) -> Decimal:
        return self.orig_qty - self.executed_qty

    @property
    def is_stop(self) -> bool:
        return self.type == "STOP_LOSS_LIMIT"

    @property
    def triggered(self) -> bool:
        return not self.is_stop or self.working_time is not None

    def _common(self) -> dict[str, Any]:
        return {
            "price": fmt8(self.price),
            "origQty": fmt8(self.orig_qty),
            "executedQty": fmt8(self.executed_qty),
            "cummulativeQuoteQty": fmt8(self.cum_quote),
            "status": self.status,
            "timeInForce": self.time_in_force,
            "type": self.type,
            "side": self.side,
        }

    def ack(self, transact_time: int) -> dict[str, Any]:
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
            "transactTime": transact_time,
        }

    def result(self, transact_time: int) -> dict[str, Any]:
        out = self.ack(transact_time) | self._common()
        out["origQuoteOrderQty"] = fmt8(self.orig_quote_order_qty)
        if self.is_stop:
            out["stopPrice"] = fmt8(self.stop_price)
        out["workingTime"] = -1 if self.working_time is None else self.working_time
        out["selfTradePreventionMode"] = "NONE"
        return out

    def full(self, transact_time: int, trades: list[Trade]) -> dict[str, Any]:
        return self.result(transact_time) | {"fills": [t.fill() for t in trades]}

    def query(self) -> dict[str, Any]:
        """`GET /api/v3/order`, `openOrders`, `allOrders` entry."""
        return {
            "symbol": self.symbol,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": self.client_order_id,
            **self._common(),
            "stopPrice": fmt8(self.stop_price),
            "icebergQty": ZERO8,
            "time": self.time,
            "updateTime": self.update_time,
            "isWorking": self.working_time is not None,
            "workingTime": -1 if self.working_time is None else self.working_time,
            "origQuoteOrderQty": fmt8(self.orig_quote_order_qty),
            "selfTradePreventionMode": "NONE",
        }

    def canceled(self, cancel_client_id: str, transact_time: int) -> dict[str, Any]:
        """`DELETE /api/v3/order` response (and `DELETE /api/v3/openOrders` entries)."""
        out: dict[str, Any] = {
            "symbol": self.symbol,
            "origClientOrderId": self.client_order_id,
            "orderId": self.order_id,
            "orderListId": self.order_list_id,
            "clientOrderId": cancel_client_id,
            "transactTime": transact_time,
            **self._common(),
        }
        out["origQuoteOrderQty"] = fmt8(self.orig_quote_order_qty)
        if self.is_stop:
            out["stopPrice"] = fmt8(self.stop_price)
        out["selfTradePreventionMode"] = "NONE"
        return out

    def execution_report(
        self,
        *,
        event_time: int,
        execution_type: str,
        execution_id: int,
        trade: Trade | None = None,
        cancel_client_id: str | None = None,
    ) -> dict[str, Any]:
        """The user-data-stream `executionReport` for this order's current state."""
        event: dict[str, Any] = {
            "e": "executionReport",
            "E": event_time,
            "s": self.symbol,
            "c": cancel_client_id if cancel_client_id is not None else self.client_order_id,
            "S": self.side,
            "o": self.type,
            "f": self.time_in_force,
            "q": fmt8(self.orig_qty),
            "p": fmt8(self.price),
            "P": fmt8(self.stop_price),
            "F": ZERO8,
            "g": self.order_list_id,
            "C": self.client_order_id if cancel_client_id is not None else "",
            "x": execution_type,
            "X": self.status,
            "r": "NONE",
            "i": self.order_id,
            "l": fmt8(trade.qty) if trade else ZERO8,
            "z": fmt8(self.executed_qty),
            "L": fmt8(trade.price) if trade else ZERO8,
            "n": fmt8(trade.commission) if trade else "0",
            "N": trade.commission_asset if trade else None,
            "T": event_time,
            "t": trade.id if trade else -1,
            "I": execution_id,
            "w": self.is_open and self.working_time is not None and self.type != "MARKET",
            "m": trade.is_maker if trade else False,
            "M": False,
            "O": self.time,
            "Z": fmt8(self.cum_quote),
            "Y": fmt8(trade.quote_qty) if trade else ZERO8,
            "Q": fmt8(self.orig_quote_order_qty),
        }
        if self.working_time is not None and self.type != "MARKET":
            event["W"] = self.working_time
        event["V"] = "NONE"
        return event


@dataclass
class OrderList:
    """An OCO: two legs on one symbol, one side and one quantity, sharing one balance lock."""

    symbol: str
    order_list_id: int
    list_client_order_id: str
    legs: list[Order]  # in orderId order
    transaction_time: int
    list_status_type: str = "EXEC_STARTED"  # EXEC_STARTED | ALL_DONE
    list_order_status: str = "EXECUTING"  # EXECUTING | ALL_DONE

    @property
    def is_open(self) -> bool:
        return self.list_order_status == "EXECUTING"

    def refresh(self, now: int) -> None:
        """ALL_DONE once no leg is open."""
        self.transaction_time = now
        if not any(leg.is_open for leg in self.legs):
            self.list_status_type = self.list_order_status = "ALL_DONE"

    def rest(self, list_client_order_id: str | None = None) -> dict[str, Any]:
        """`GET /api/v3/orderList` / `openOrderList` / `allOrderList` entry (and the head of the other answers)."""
        return {
            "orderListId": self.order_list_id,
            "contingencyType": "OCO",
            "listStatusType": self.list_status_type,
            "listOrderStatus": self.list_order_status,
            "listClientOrderId": list_client_order_id or self.list_client_order_id,
            "transactionTime": self.transaction_time,
            "symbol": self.symbol,
            "orders": [
                {"symbol": leg.symbol, "orderId": leg.order_id, "clientOrderId": leg.client_order_id}
                for leg in self.legs
            ],
        }

    def placed(self, resp_type: str, now: int) -> dict[str, Any]:
        """`POST /api/v3/orderList/oco` response (`orderReports` in the `newOrderRespType` format)."""
        if resp_type == "ACK":
            reports = [leg.ack(now) for leg in self.legs]
        elif resp_type == "RESULT":
            reports = [leg.result(now) for leg in self.legs]
        else:
            reports = [leg.full(now, []) for leg in self.legs]
        return self.rest() | {"orderReports": reports}

    def canceled(self, cancel_client_id: str, now: int) -> dict[str, Any]:
        """`DELETE /api/v3/orderList` response: `listClientOrderId` is the cancel's id, as on Binance."""
        reports = [leg.canceled(leg.client_order_id, now) for leg in self.legs]
        return self.rest(cancel_client_id) | {"orderReports": reports}

    def event(self, now: int) -> dict[str, Any]:
        """The user-data-stream `listStatus` event."""
        return {
            "e": "listStatus",
            "E": now,
            "s": self.symbol,
            "g": self.order_list_id,
            "c": "OCO",
            "l": self.list_status_type,
            "L": self.list_order_status,
            "r": "NONE",
            "C": self.list_client_order_id,
            "T": now,
            "O": [{"s": leg.symbol, "i": leg.order_id, "c": leg.client_order_id} for leg in self.legs],
        }
