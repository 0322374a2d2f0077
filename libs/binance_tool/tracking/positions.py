"""Positions computed from fills (spot, long only, average-cost method).  Pure (no I/O).

A position is identified by (account, base asset, edge — None for manual trades) and is a pure function of the
SET of its fills: `position_from_fills` deduplicates by trade id, sorts canonically by (time, trade id) and folds
`_step`; `apply_fill` gives the identical result incrementally (it folds one step when the new fill sorts after all
known ones, and refolds the whole set otherwise).  See docs/tracking.md for the rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType

from binance_tool.exchange.execution import Side, TradeRecord
from binance_tool.tracking.orders import TrackedOrder
from binance_tool.trading.filters import SymbolFilters

ZERO = Decimal(0)
_EMPTY: Mapping[str, Decimal] = MappingProxyType({})


class FillConflict(ValueError):
    """One trade id with two different contents, or a fill of another edge."""


@dataclass(frozen=True)
class PositionFill:
    trade_id: int
    order_id: int
    side: Side
    quantity: Decimal  # base asset, gross (as executed)
    price: Decimal  # quote per base
    commission: Decimal
    commission_asset: str
    time_ms: int
    edge: str | None = None  # None: a manual trade
    # price of the commission asset in the quote asset when the fill was learnt (for fees in a third asset such as
    # BNB); not part of the fill's identity: the first one recorded for a trade id is kept
    commission_price: Decimal | None = field(default=None, compare=False)

    @property
    def sort_key(self) -> tuple[int, int]:
        return (self.time_ms, self.trade_id)


@dataclass(frozen=True)
class PositionKey:
    account: str
    base_asset: str
    edge: str | None


@dataclass(frozen=True)
class Position:
    symbol: str
    base_asset: str
    quote_asset: str
    edge: str | None
    quantity: Decimal = ZERO  # base held (net of base commission)
    cost_basis: Decimal = ZERO  # quote paid for `quantity`, buy fees included
    realised_pnl: Decimal = ZERO  # quote, net of every fee that could be valued
    fees_quote: Decimal = ZERO  # every fee valued in quote (base fees at the fill price, others at the given price)
    fees_by_asset: Mapping[str, Decimal] = field(default_factory=lambda: _EMPTY)  # raw commission totals per asset
    fees_other: Mapping[str, Decimal] = field(
        default_factory=lambda: _EMPTY
    )  # commission with no price given: NOT in P&L
    unmatched_sell_qty: Decimal = ZERO  # base sold beyond what the fills show was held (unknown cost)
    unmatched_proceeds: Decimal = ZERO  # quote received for it: NOT in P&L
    bought_qty: Decimal = ZERO
    sold_qty: Decimal = ZERO
    opened_ms: int | None = None  # first buy of the current (or last) holding period
    closed_ms: int | None = None  # when what was left fell below the exchange minimums; None while open
    closed: bool = True  # nothing tradable held (below LOT_SIZE minQty or MIN_NOTIONAL at the last price)
    last_price: Decimal | None = None
    last_fill_key: tuple[int, int] | None = None
    fill_count: int = 0
    # the current holding period (or the last one, once closed): it starts with the first fill after the position
    # was closed (or flat); cost carried in = the cost basis of any dust held at that moment
    period_realised_pnl: Decimal = ZERO  # realised P&L of the period, net of fees (as `realised_pnl`)
    period_cost: Decimal = ZERO  # quote spent on buys in the period, buy fees included (+ dust cost carried in)

    @property
    def average_entry_price(self) -> Decimal | None:
        return self.cost_basis / self.quantity if self.quantity > 0 else None

    def key(self, account: str) -> PositionKey:
        return PositionKey(account, self.base_asset, self.edge)


def empty_position(filters: SymbolFilters, edge: str | None = None) -> Position:
    return Position(symbol=filters.symbol, base_asset=filters.base_asset, quote_asset=filters.quote_asset, edge=edge)


def is_dust(quantity: Decimal, price: Decimal | None, filters: SymbolFilters) -> bool:
    """Too little to sell: below LOT_SIZE minQty, or below MIN_NOTIONAL at `price` (nothing when <= 0)."""
    if quantity <= 0:
        return True
    if filters.min_qty and quantity < filters.min_qty:
        return True
    return price is not None and bool(filters.min_notional) and quantity * price < filters.min_notional


def _add(totals: Mapping[str, Decimal], asset: str, amount: Decimal) -> Mapping[str, Decimal]:
    if not amount:
        return totals
    out = dict(totals)
    out[asset] = out.get(asset, ZERO) + amount
    return MappingProxyType(dict(sorted(out.items())))


def _step(pos: Position, fill: PositionFill, filters: SymbolFilters, prices: Mapping[str, Decimal]) -> Position:
    """`pos` after one more fill (which must sort after every fill already in `pos`)."""
    base, quote = filters.base_asset, filters.quote_asset
    asset, commission = fill.commission_asset, fill.commission
    base_fee = commission if asset == base else ZERO
    if asset == base:
        fee_quote: Decimal = ZERO  # paid in units, already reflected in the quantities
        fee_valued = commission * fill.price
    elif asset == quote:
        fee_quote = fee_valued = commission
    elif fill.commission_price is not None:
        fee_quote = fee_valued = commission * fill.commission_price
    elif asset in prices:
        fee_quote = fee_valued = commission * prices[asset]
    else:
        fee_quote = fee_valued = ZERO
    upd: dict[str, object] = {
        "fees_quote": pos.fees_quote + fee_valued,
        "fees_by_asset": _add(pos.fees_by_asset, asset, commission),
        "fees_other": pos.fees_other
        if asset in (base, quote) or asset in prices or fill.commission_price is not None
        else _add(pos.fees_other, asset, commission),
        "last_price": fill.price,
        "last_fill_key": fill.sort_key,
        "fill_count": pos.fill_count + 1,
    }
    was_closed = pos.closed
    period_realised, period_cost = (ZERO, pos.cost_basis) if was_closed else (pos.period_realised_pnl, pos.period_cost)
    if fill.side is Side.BUY:
        quantity = pos.quantity + fill.quantity - base_fee
        upd |= {
            "quantity": quantity,
            "cost_basis": pos.cost_basis + fill.quantity * fill.price + fee_quote,
            "bought_qty": pos.bought_qty + fill.quantity,
            "period_realised_pnl": period_realised,
            "period_cost": period_cost + fill.quantity * fill.price + fee_quote,
        }
    else:
        removed = fill.quantity + base_fee  # base commission on a sell is sold too
        matched = min(removed, max(pos.quantity, ZERO))
        unmatched = removed - matched
        proceeds = fill.quantity * fill.price
        # proceeds of the matched part only (pro rata), minus the whole quote-valued fee
        matched_proceeds = proceeds if not unmatched else proceeds * matched / removed
        cost_out = pos.cost_basis if matched == pos.quantity else pos.cost_basis * matched / pos.quantity
        quantity = pos.quantity - matched
        realised = matched_proceeds - cost_out - fee_quote
        upd |= {
            "quantity": quantity,
            "cost_basis": pos.cost_basis - cost_out,
            "realised_pnl": pos.realised_pnl + realised,
            "period_realised_pnl": period_realised + realised,
            "period_cost": period_cost,
            "unmatched_sell_qty": pos.unmatched_sell_qty + unmatched,
            "unmatched_proceeds": pos.unmatched_proceeds + (proceeds - matched_proceeds),
            "sold_qty": pos.sold_qty + fill.quantity,
        }
    closed = is_dust(quantity, fill.price, filters)
    upd["closed"] = closed
    if was_closed and not closed:
        upd |= {"opened_ms": fill.time_ms, "closed_ms": None}
    elif closed and not was_closed:
        upd["closed_ms"] = fill.time_ms
    return replace(pos, **upd)  # type: ignore[arg-type]


def _canonical(fills: Iterable[PositionFill]) -> list[PositionFill]:
    by_id: dict[int, PositionFill] = {}
    for f in fills:
        known = by_id.setdefault(f.trade_id, f)
        if known != f:
            raise FillConflict(f"trade {f.trade_id}: two different fills ({known} vs {f})")
    return sorted(by_id.values(), key=lambda f: f.sort_key)


def _edge_of(fills: list[PositionFill], edge: str | None) -> str | None:
    edges = {f.edge for f in fills}
    if len(edges) > 1 or (edges and edge is not None and edges != {edge}):
        raise FillConflict(f"fills of several edges in one position: {sorted(map(str, edges | {edge}))}")
    return edges.pop() if edges else edge


def position_from_fills(
    fills: Iterable[PositionFill],
    filters: SymbolFilters,
    prices: Mapping[str, Decimal] | None = None,
    *,
    edge: str | None = None,
) -> Position:
    """The position the SET of `fills` gives (order and duplicates do not matter).  `prices` values commission
    assets other than base and quote (e.g. {"BNB": Decimal("600")} in the quote asset)."""
    ordered = _canonical(fills)
    pos = empty_position(filters, _edge_of(ordered, edge))
    for f in ordered:
        pos = _step(pos, f, filters, prices or _EMPTY)
    return pos


@dataclass(frozen=True)
class PositionState:
    """What an incremental tracker keeps for one position: its fills by trade id and the position they give."""

    filters: SymbolFilters
    prices: Mapping[str, Decimal]
    fills: Mapping[int, PositionFill]
    position: Position


def new_position_state(
    filters: SymbolFilters, prices: Mapping[str, Decimal] | None = None, edge: str | None = None
) -> PositionState:
    return PositionState(
        filters, MappingProxyType(dict(prices or {})), MappingProxyType({}), empty_position(filters, edge)
    )


def apply_fill(state: PositionState, fill: PositionFill) -> PositionState:
    """`state` with one more fill; equal to `position_from_fills` of all its fills.  A duplicate changes nothing."""
    known = state.fills.get(fill.trade_id)
    if known is not None:
        if known != fill:
            raise FillConflict(f"trade {fill.trade_id}: two different fills ({known} vs {fill})")
        return state
    pos = state.position
    if state.fills and fill.edge != pos.edge:
        raise FillConflict(f"trade {fill.trade_id} of edge {fill.edge!r} in a position of edge {pos.edge!r}")
    edge = _edge_of([fill], pos.edge)
    fills = MappingProxyType({**state.fills, fill.trade_id: fill})
    if pos.last_fill_key is None or fill.sort_key > pos.last_fill_key:
        position = _step(replace(pos, edge=edge), fill, state.filters, state.prices)
    else:
        position = position_from_fills(fills.values(), state.filters, state.prices, edge=edge)
    return replace(state, fills=fills, position=position)


def follows(position: Position, fill: PositionFill) -> bool:
    """True when `fill` sorts after every fill already folded into `position` (the O(1) path of `fold_fill`)."""
    return position.last_fill_key is None or fill.sort_key > position.last_fill_key


def fold_fill(
    position: Position, fill: PositionFill, filters: SymbolFilters, prices: Mapping[str, Decimal] | None = None
) -> Position:
    """`position` after one more fill that sorts after all its fills (`follows`): one step of the canonical fold,
    so the result equals `position_from_fills` of all the fills.  A store that keeps the folded position and the
    fills apart uses this for the usual in-order fill and `position_from_fills` for a late one."""
    if not follows(position, fill):
        raise ValueError(f"trade {fill.trade_id} sorts before the last fill folded: refold with position_from_fills")
    if position.fill_count and fill.edge != position.edge:
        raise FillConflict(f"trade {fill.trade_id} of edge {fill.edge!r} in a position of edge {position.edge!r}")
    return _step(replace(position, edge=fill.edge), fill, filters, prices or _EMPTY)


def unrealised_pnl(position: Position, mark_price: Decimal) -> Decimal:
    """Quote P&L of what is held if sold at `mark_price` (no exit fee)."""
    return position.quantity * mark_price - position.cost_basis if position.quantity > 0 else ZERO


def fill_from_trade(record: TradeRecord, edge: str | None = None) -> PositionFill:
    """A `myTrades` row (REST back-fill) as a position fill."""
    return PositionFill(
        trade_id=record.trade_id,
        order_id=record.order_id,
        side=Side.BUY if record.is_buyer else Side.SELL,
        quantity=record.quantity,
        price=record.price,
        commission=record.commission,
        commission_asset=record.commission_asset,
        time_ms=record.time_ms,
        edge=edge,
    )


def fills_of_order(order: TrackedOrder, edge: str | None = None) -> list[PositionFill]:
    """The fills of a tracked order as position fills."""
    return [
        PositionFill(
            trade_id=f.trade_id,
            order_id=order.order_id,
            side=order.side,
            quantity=f.quantity,
            price=f.price,
            commission=f.commission,
            commission_asset=f.commission_asset,
            time_ms=f.time_ms,
            edge=edge,
        )
        for f in order.fills
    ]
