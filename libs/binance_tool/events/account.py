"""Events of the account's order stream (order-stream ingestion) and of positions (position-tracker).

Ids are functions of the exchange's own identifiers, so two ingestion replicas, and a REST back-fill after a gap,
publish the same id for the same fact and downstream dedup keeps one:
- an execution report: (exchange, account, symbol, order id, execution type, trade id for TRADE reports) — order
  and trade ids are only unique per symbol on Binance;
- a balance update: (exchange, account, update time, the balances);
- a position change: (account, base asset, edge, the trade that caused it).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from binance_tool.events.envelope import Envelope, deterministic_id

_EDGE_PREFIX = re.compile(r"^(edge[0-9a-z]{1,2})-")


def edge_of_client_order_id(client_order_id: str) -> str | None:
    """The edge an order was placed for (our client order ids start with it, e.g. `edge70-entry-…`); None for
    orders placed by hand or by other tools."""
    match = _EDGE_PREFIX.match(client_order_id)
    return match.group(1) if match else None


class ExecutionReportReceived(Envelope):
    """One `executionReport` of the account (from the user data stream, or rebuilt from REST after a gap)."""

    EXCHANGE: ClassVar[str] = "bt.account"
    ROUTING_KEY: ClassVar[str] = "execution.{symbol}.{execution_type}"
    DESCRIPTION: ClassVar[str] = (
        "An order update of the account: new, trade (fill), canceled, expired (order ingestion)."
    )

    object_type: Literal["ExecutionReportReceived"] = "ExecutionReportReceived"
    version: Literal[1] = 1
    exchange: str = "binance"
    account: str = "default"
    source: Literal["stream", "rest-backfill"]
    symbol: str
    client_order_id: str
    original_client_order_id: str = ""
    edge: str | None = None
    order_id: int
    side: Literal["BUY", "SELL"]
    order_type: str
    execution_type: str  # NEW, TRADE, CANCELED, EXPIRED, REJECTED, REPLACED, TRADE_PREVENTION
    order_status: str
    orig_qty: Decimal
    price: Decimal
    stop_price: Decimal
    last_qty: Decimal
    last_price: Decimal
    cumulative_qty: Decimal
    cumulative_quote_qty: Decimal
    commission: Decimal
    commission_asset: str | None
    trade_id: int = -1
    transaction_time_ms: int = Field(ge=0)

    @staticmethod
    def id_for(
        exchange: str, account: str, symbol: str, order_id: int, execution_type: str, trade_id: int
    ) -> uuid.UUID:
        return deterministic_id(
            "ExecutionReport",
            exchange,
            account,
            symbol,
            order_id,
            execution_type,
            trade_id if execution_type == "TRADE" else -1,
        )


class BalanceEntry(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    asset: str
    free: Decimal
    locked: Decimal


class AccountBalancesUpdated(Envelope):
    """An `outboundAccountPosition`: the balances that changed (or a full REST snapshot after a gap)."""

    EXCHANGE: ClassVar[str] = "bt.account"
    ROUTING_KEY: ClassVar[str] = "balances.{account}"
    DESCRIPTION: ClassVar[str] = "Balances of the account that changed, or a full snapshot (order ingestion)."

    object_type: Literal["AccountBalancesUpdated"] = "AccountBalancesUpdated"
    version: Literal[1] = 1
    exchange: str = "binance"
    account: str = "default"
    source: Literal["stream", "rest-snapshot"]
    update_time_ms: int = Field(ge=0)
    balances: tuple[BalanceEntry, ...]

    @staticmethod
    def id_for(exchange: str, account: str, update_time_ms: int, balances: tuple[BalanceEntry, ...]) -> uuid.UUID:
        key = ";".join(f"{b.asset}:{b.free}:{b.locked}" for b in sorted(balances, key=lambda b: b.asset))
        return deterministic_id("AccountBalances", exchange, account, update_time_ms, key)


class PositionChanged(Envelope):
    """A position opened, increased, reduced or closed by a fill (position-tracker); P&L in the quote asset."""

    EXCHANGE: ClassVar[str] = "bt.positions"
    ROUTING_KEY: ClassVar[str] = "position.{change}.{base_asset}"
    DESCRIPTION: ClassVar[str] = "A position opened / increased / reduced / closed, with its P&L (position tracker)."

    object_type: Literal["PositionChanged"] = "PositionChanged"
    version: Literal[1] = 1
    account: str = "default"
    change: Literal["opened", "increased", "reduced", "closed"]
    edge: str | None
    base_asset: str
    quote_asset: str
    symbol: str
    cause_trade_id: int
    quantity: Decimal  # held after the fill
    average_entry_price: Decimal | None
    realised_pnl: Decimal  # cumulative, net of fees
    fees_quote: Decimal
    opened_at_ms: int | None
    closed_at_ms: int | None
    # the holding period this fill belongs to (since `opened_at_ms`; on `closed`, the period just closed):
    # its realised P&L net of fees and the quote spent on its buys (fees included); return = pnl / cost
    period_realised_pnl: Decimal = Decimal(0)
    period_cost: Decimal = Decimal(0)
    # how many fills the figures are based on: of two events about one holding period, the one with more fills
    # knows more (a late fill's corrected "closed" has more than the first "closed", whatever their fill times)
    fills_known: int = Field(default=0, ge=0)

    @staticmethod
    def id_for(account: str, base_asset: str, edge: str | None, trade_id: int) -> uuid.UUID:
        return deterministic_id("PositionChanged", account, base_asset, edge or "-", trade_id)


class Holding(BaseModel):
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    asset: str
    free: Decimal
    locked: Decimal
    price: Decimal | None  # in the quote asset; None: no price known
    value: Decimal | None  # in the quote asset


class PortfolioValued(Envelope):
    """The account's balances valued in the quote asset and in USD at current prices (portfolio-tracker): after
    every balance change and every price refresh."""

    EXCHANGE: ClassVar[str] = "bt.account"
    ROUTING_KEY: ClassVar[str] = "portfolio.{account}"
    DESCRIPTION: ClassVar[str] = "The portfolio valued in the quote asset and in USD (portfolio tracker)."

    object_type: Literal["PortfolioValued"] = "PortfolioValued"
    version: Literal[1] = 1
    account: str = "default"
    reason: Literal["balances", "prices"]
    quote_asset: str
    total_quote: Decimal  # priced holdings only (see `unpriced`)
    usd_per_quote: Decimal | None
    usd_rate_source: str  # market:<SYMBOL> | identity | peg | none (see tracking.portfolio.UsdRate)
    total_usd: Decimal | None
    holdings: tuple[Holding, ...]
    unpriced: tuple[str, ...]
    balances_time_ms: int = Field(ge=0)  # exchange time of the newest balance report
    prices_time_ms: int = Field(ge=0)  # when the prices were read (0: none yet)

    @staticmethod
    def id_for(account: str, reason: str, balances_time_ms: int, prices_time_ms: int, holdings: str) -> uuid.UUID:
        """`holdings`: the balances valued, e.g. "BTC:0.5:0;USDT:90:0" (a late report of another asset leaves the
        newest balance time as it was, so the contents are part of the id)."""
        return deterministic_id("PortfolioValued", account, reason, balances_time_ms, prices_time_ms, holdings)
