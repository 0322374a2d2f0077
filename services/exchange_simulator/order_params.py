"""Parameters of `POST /api/v3/order` (and `/order/test`) and `POST /api/v3/orderList/oco`, checked the way Binance
checks them before an order reaches the matching engine: mandatory (-1102) and unexpected (-1106) parameters per
order type, enum values (-1115/-1116/-1117), unsupported combinations (-1014), malformed numbers and client ids
(-1100)."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from decimal import Decimal

from services.exchange_simulator.auth import Params, illegal
from services.exchange_simulator.rest import BinanceError, check_symbol_format

CLIENT_ID_RE = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
CLIENT_ID_RANGE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
SUPPORTED_TYPES = ("MARKET", "LIMIT", "LIMIT_MAKER", "STOP_LOSS_LIMIT")
BINANCE_TYPES = ("LIMIT", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT", "LIMIT_MAKER")
TIME_IN_FORCE = ("GTC", "IOC", "FOK")
RESP_TYPES = ("ACK", "RESULT", "FULL")
# accepted and ignored (self-trade prevention cannot happen with one account; strategy fields are metadata)
IGNORED = ("selfTradePreventionMode", "strategyId", "strategyType")


@dataclass(frozen=True)
class NewOrder:
    symbol: str
    side: str
    type: str
    quantity: Decimal | None
    quote_order_qty: Decimal | None
    price: Decimal | None
    stop_price: Decimal | None
    time_in_force: str | None
    client_order_id: str
    resp_type: str


def new_client_id() -> str:
    """A Binance-like generated client order id (22 characters)."""
    return secrets.token_hex(11)


def client_id(params: Params, name: str) -> str | None:
    value = params.get(name)
    if value is not None and not CLIENT_ID_RE.match(value):
        raise illegal(name, CLIENT_ID_RANGE)
    return value


def parse_new_order(params: Params) -> NewOrder:
    symbol = check_symbol_format(params.mandatory("symbol"))
    side = params.mandatory("side")
    if side not in ("BUY", "SELL"):
        raise BinanceError(-1117, "Invalid side.")
    kind = params.mandatory("type")
    if kind not in BINANCE_TYPES:
        raise BinanceError(-1116, "Invalid orderType.")
    if kind not in SUPPORTED_TYPES:
        raise BinanceError(-1014, "Unsupported order combination.")
    tif = params.get("timeInForce")
    if tif is not None and tif not in TIME_IN_FORCE:
        raise BinanceError(-1115, "Invalid timeInForce.")
    quantity = quote_qty = price = stop = None
    if kind == "MARKET":
        params.not_sent("timeInForce", "price", "stopPrice")
        if params.has("quantity") and params.has("quoteOrderQty"):
            raise BinanceError(-1106, "Parameter 'quoteOrderQty' sent when not required.")
        quantity = params.decimal("quantity")
        quote_qty = params.decimal("quoteOrderQty")
        if quantity is None and quote_qty is None:
            raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, but both were empty/null!")
    elif kind == "LIMIT_MAKER":
        params.not_sent("quoteOrderQty", "timeInForce", "stopPrice")
        quantity = params.decimal("quantity", mandatory=True)
        price = params.decimal("price", mandatory=True)
    else:
        params.not_sent("quoteOrderQty")
        tif = params.mandatory("timeInForce")
        quantity = params.decimal("quantity", mandatory=True)
        price = params.decimal("price", mandatory=True)
        if kind == "LIMIT":
            params.not_sent("stopPrice")
        else:
            stop = params.decimal("stopPrice", mandatory=True)
            if tif != "GTC":  # the simulator only keeps stop-limit orders on the book
                raise BinanceError(-1014, "Unsupported order combination.")
    params.not_sent("trailingDelta")
    iceberg = params.decimal("icebergQty")
    if iceberg is not None and iceberg != 0:
        raise BinanceError(-1014, "Unsupported order combination.")
    cid = client_id(params, "newClientOrderId") or new_client_id()
    resp = params.get("newOrderRespType") or ("FULL" if kind in ("MARKET", "LIMIT") else "ACK")
    if resp not in RESP_TYPES:
        raise illegal("newOrderRespType", "ACK, RESULT, FULL")
    for name in IGNORED:
        params.get(name)
    return NewOrder(symbol, side, kind, quantity, quote_qty, price, stop, tif or "GTC", cid, resp)


# -- OCO -------------------------------------------------------------------------------------------------------
OCO_ABOVE_TYPES = ("STOP_LOSS_LIMIT", "STOP_LOSS", "LIMIT_MAKER", "TAKE_PROFIT", "TAKE_PROFIT_LIMIT")
OCO_BELOW_TYPES = OCO_ABOVE_TYPES
# simulated: SELL = take profit above (LIMIT_MAKER) + stop loss below; BUY = stop loss above + take profit below
OCO_SUPPORTED = {"SELL": ("LIMIT_MAKER", "STOP_LOSS_LIMIT"), "BUY": ("STOP_LOSS_LIMIT", "LIMIT_MAKER")}


@dataclass(frozen=True)
class OcoLeg:
    position: str  # above | below
    type: str  # LIMIT_MAKER | STOP_LOSS_LIMIT
    price: Decimal
    stop_price: Decimal | None
    time_in_force: str  # GTC (reported for LIMIT_MAKER too)
    client_order_id: str

    @property
    def is_stop(self) -> bool:
        return self.type == "STOP_LOSS_LIMIT"


@dataclass(frozen=True)
class NewOco:
    symbol: str
    side: str
    quantity: Decimal
    list_client_order_id: str
    above: OcoLeg
    below: OcoLeg
    resp_type: str

    @property
    def take_profit(self) -> OcoLeg:
        return self.below if self.above.is_stop else self.above

    @property
    def stop_loss(self) -> OcoLeg:
        return self.above if self.above.is_stop else self.below


def _oco_leg(params: Params, position: str, kind: str) -> OcoLeg:
    p = position
    params.not_sent(f"{p}TrailingDelta", f"{p}PegPriceType", f"{p}PegOffsetType", f"{p}PegOffsetValue")
    iceberg = params.decimal(f"{p}IcebergQty")
    if iceberg is not None and iceberg != 0:
        raise BinanceError(-1014, "Unsupported order combination.")
    stop = None
    if kind == "LIMIT_MAKER":
        params.not_sent(f"{p}StopPrice", f"{p}TimeInForce")
        price = params.decimal(f"{p}Price", mandatory=True)
        tif = "GTC"
    else:
        stop = params.decimal(f"{p}StopPrice", mandatory=True)
        price = params.decimal(f"{p}Price", mandatory=True)
        tif = params.mandatory(f"{p}TimeInForce")
        if tif not in TIME_IN_FORCE:
            raise BinanceError(-1115, "Invalid timeInForce.")
        if tif != "GTC":  # the simulator only keeps stop-limit orders on the book
            raise BinanceError(-1014, "Unsupported order combination.")
    assert price is not None
    for name in ("StrategyId", "StrategyType"):
        params.get(f"{p}{name}")
    cid = client_id(params, f"{p}ClientOrderId") or new_client_id()
    return OcoLeg(position, kind, price, stop, tif, cid)


def parse_new_oco(params: Params) -> NewOco:
    """`POST /api/v3/orderList/oco`: a SELL (above LIMIT_MAKER, below STOP_LOSS_LIMIT) or its BUY mirror."""
    symbol = check_symbol_format(params.mandatory("symbol"))
    side = params.mandatory("side")
    if side not in ("BUY", "SELL"):
        raise BinanceError(-1117, "Invalid side.")
    quantity = params.decimal("quantity", mandatory=True)
    assert quantity is not None
    above_type, below_type = params.mandatory("aboveType"), params.mandatory("belowType")
    if above_type not in OCO_ABOVE_TYPES or below_type not in OCO_BELOW_TYPES:
        raise BinanceError(-1116, "Invalid orderType.")
    if (above_type, below_type) != OCO_SUPPORTED[side]:
        raise BinanceError(-1014, "Unsupported order combination.")
    list_id = client_id(params, "listClientOrderId") or new_client_id()
    above = _oco_leg(params, "above", above_type)
    below = _oco_leg(params, "below", below_type)
    resp = params.get("newOrderRespType") or "FULL"
    if resp not in RESP_TYPES:
        raise illegal("newOrderRespType", "ACK, RESULT, FULL")
    params.get("selfTradePreventionMode")
    return NewOco(symbol, side, quantity, list_id, above, below, resp)
