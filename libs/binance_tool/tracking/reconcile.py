"""Positions vs the exchange: what we think we hold against the balances and open orders.  Pure (no I/O).

`reconcile(positions, balances, open_orders, filters, prices, settings)` returns the sorted `Mismatch`es:

- per base asset, the expected holding is the sum of the tracked positions' quantities over every edge (net of base
  commission; a closed position's dust counts too, it is still on the exchange), minus the commission other
  positions paid in that asset (fees in a third asset, e.g. BNB: they left the balance but reduce no position of
  it), and is compared with the balance (free + locked).  A surplus is `balance_without_position`, a shortfall
  `position_without_balance`; both are one mismatch per asset (no edge: which edges hold the asset does not change
  what is missing).  A difference that is negligible is not a mismatch: dust (below LOT_SIZE minQty, or below
  MIN_NOTIONAL at the price) or worth less than `tolerance_quote`.  The quote asset and `ignore_assets` are never
  compared;
- open SELL stop-loss orders (STOP_LOSS_LIMIT, and STOP_LOSS when the exchange port models it) are grouped by
  (symbol, edge of their client order id).  An open edge position (a manual one only when
  `require_stop_for_manual`) needs a group (`position_without_stop`) whose remaining quantity equals the position
  floored to the LOT_SIZE step (what the Trade Abstraction Service places).  A group of an edge with no open
  position on the symbol (a leftover stop, e.g. after a close whose cancel timed out) is compared with what the
  edge holds there (its dust, or nothing): it locks — and may sell — coins of another holder.  A difference below
  one step, or one that is dust, is fine; otherwise `stop_quantity_mismatch`.

Transient states (a fill the trackers have not applied yet) are the caller's business: the checker service only
reports a mismatch still there at a re-check.  See docs/position-checker.md.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from binance_tool.exchange.execution import Balance, OrderState, Side
from binance_tool.tracking.portfolio import price_in
from binance_tool.tracking.positions import Position, is_dust
from binance_tool.trading.filters import SymbolFilters

ZERO = Decimal(0)


class MismatchKind(StrEnum):
    POSITION_WITHOUT_STOP = "position_without_stop"
    BALANCE_WITHOUT_POSITION = "balance_without_position"
    POSITION_WITHOUT_BALANCE = "position_without_balance"
    STOP_QUANTITY_MISMATCH = "stop_quantity_mismatch"


_KIND_ORDER = {kind: i for i, kind in enumerate(MismatchKind)}
_BALANCE_KINDS = frozenset({MismatchKind.BALANCE_WITHOUT_POSITION, MismatchKind.POSITION_WITHOUT_BALANCE})
# SELL orders that are stops (by the exchange's type name: STOP_LOSS counts once the exchange port models it)
STOP_ORDER_TYPES = frozenset({"STOP_LOSS", "STOP_LOSS_LIMIT"})


@dataclass(frozen=True)
class ReconcileSettings:
    quote_asset: str = "USDT"
    ignore_assets: frozenset[str] = frozenset()
    tolerance_quote: Decimal = ZERO  # a difference worth less than this (in the quote asset) is not a mismatch
    require_stop_for_manual: bool = False

    def __post_init__(self) -> None:
        if self.tolerance_quote < 0:
            raise ValueError(f"tolerance_quote must be >= 0, got {self.tolerance_quote}")
        if not self.quote_asset:
            raise ValueError("quote_asset must not be empty")


@dataclass(frozen=True)
class Mismatch:
    kind: MismatchKind
    asset: str  # the base asset
    symbol: str
    edge: str | None  # stop kinds: the edge of the position / stops; balance kinds: always None
    expected: Decimal  # balance kinds: positions minus fees paid in the asset; stop kinds: position floored to step
    actual: Decimal  # balance kinds: free + locked; stop kinds: remaining quantity of the open stops
    difference: Decimal  # actual - expected
    value_quote: Decimal | None  # |difference| in the quote asset at the last price (None: not priced)
    quote_asset: str
    text: str

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the same mismatch from one check to the next: (kind, asset) for the balance kinds
        (whoever else opens or closes a position of the asset, it stays the same mismatch), plus the edge for
        the stop kinds."""
        if self.kind in _BALANCE_KINDS:
            return (self.kind.value, self.asset, "-")
        return (self.kind.value, self.asset, self.edge or "-")

    @property
    def sort_key(self) -> tuple[str, int, str]:
        return (self.asset, _KIND_ORDER[self.kind], self.edge or "")


def _q(d: Decimal) -> str:
    """A quantity for humans: no exponent, no trailing zeros."""
    text = format(d.normalize(), "f") if d else "0"
    return text


def _value(value: Decimal | None, quote: str) -> str:
    return "" if value is None else f" (≈ {value.quantize(Decimal('0.01')):,} {quote})"


def _edge_name(edge: str | None) -> str:
    return edge if edge is not None else "manual"


def _edge_of_order(client_order_id: str) -> str | None:
    # imported here: binance_tool.events imports many modules, some of which may import this package
    from binance_tool.events.account import edge_of_client_order_id

    return edge_of_client_order_id(client_order_id)


def symbol_of(asset: str, quote: str, filters: Mapping[str, SymbolFilters]) -> str:
    """The `<asset><quote>` symbol (its exchange filters name it when they carry the assets)."""
    for f in filters.values():
        if f.base_asset == asset and f.quote_asset == quote:
            return f.symbol
    return asset + quote


def compared_assets(
    positions: Iterable[Position], balances: Mapping[str, Balance], settings: ReconcileSettings
) -> list[str]:
    """The base assets whose balance is compared with the positions (held or expected; not quote, not ignored)."""
    assets = {p.base_asset for p in positions if p.quantity > 0} | {a for a, b in balances.items() if b.total > 0}
    return sorted(assets - settings.ignore_assets - {settings.quote_asset})


def _negligible(
    diff: Decimal, filters: SymbolFilters | None, price: Decimal | None, settings: ReconcileSettings
) -> bool:
    """Too small to matter: dust for the exchange (cannot be traded), or worth less than the tolerance."""
    size = abs(diff)
    if size == 0:
        return True
    if filters is not None and is_dust(size, price, filters):
        return True
    return price is not None and size * price < settings.tolerance_quote


def fees_paid_in(asset: str, positions: Iterable[Position]) -> Decimal:
    """Commission paid in `asset` by positions of other assets (a third-asset fee such as BNB): it left the
    exchange balance of `asset` but reduced no position of it."""
    return sum(
        (p.fees_by_asset.get(asset, ZERO) for p in positions if asset not in (p.base_asset, p.quote_asset)), ZERO
    )


def _balance_mismatch(
    asset: str,
    held: list[Position],
    fees_elsewhere: Decimal,
    balance: Balance | None,
    filters: Mapping[str, SymbolFilters],
    prices: Mapping[str, Decimal],
    settings: ReconcileSettings,
) -> Mismatch | None:
    quote = settings.quote_asset
    expected = sum((p.quantity for p in held), ZERO) - fees_elsewhere
    actual = balance.total if balance is not None else ZERO
    diff = actual - expected
    symbol = held[0].symbol if held else symbol_of(asset, quote, filters)
    price = price_in(asset, quote, prices)
    if _negligible(diff, filters.get(symbol), price, settings):
        return None
    value = abs(diff) * price if price is not None else None
    tradable = [p for p in held if not p.closed]
    listed = ", ".join(f"{_edge_name(p.edge)} {_q(p.quantity)}" for p in tradable) or "none open"
    if fees_elsewhere:
        listed += f"; minus {_q(fees_elsewhere)} {asset} paid as fees of other positions"
    if diff > 0:
        kind = MismatchKind.BALANCE_WITHOUT_POSITION
        text = (
            f"{asset}: the exchange holds {_q(actual)} {asset}, the positions account for {_q(expected)} "
            f"({listed}): {_q(diff)} {asset}{_value(value, quote)} is in no position"
        )
    else:
        kind = MismatchKind.POSITION_WITHOUT_BALANCE
        text = (
            f"{asset}: the positions ({listed}) expect {_q(expected)} {asset}, the exchange holds only {_q(actual)}: "
            f"{_q(-diff)} {asset}{_value(value, quote)} missing; the position cannot be sold or stopped in full"
        )
    return Mismatch(kind, asset, symbol, None, expected, actual, diff, value, quote, text)


def is_stop(order: OrderState) -> bool:
    """An open SELL stop-loss order (what protects a position)."""
    return order.side is Side.SELL and order.type.value in STOP_ORDER_TYPES and order.status.is_open


StopGroup = tuple[str, str | None]  # (symbol, edge of the client order id; None: not an edge's order)


def stop_groups(orders: Iterable[OrderState]) -> dict[StopGroup, list[OrderState]]:
    """The open SELL stops by (symbol, edge)."""
    groups: dict[StopGroup, list[OrderState]] = {}
    for o in orders:
        if is_stop(o):
            groups.setdefault((o.symbol, _edge_of_order(o.client_order_id)), []).append(o)
    return groups


def _remaining(stops: list[OrderState]) -> Decimal:
    return sum((o.orig_qty - o.executed_qty for o in stops), ZERO)


def _stop_mismatch(
    position: Position,
    stops: list[OrderState],
    filters: Mapping[str, SymbolFilters],
    prices: Mapping[str, Decimal],
    settings: ReconcileSettings,
) -> Mismatch | None:
    """An open position against the open stops of its edge on its symbol."""
    quote, asset, symbol = settings.quote_asset, position.base_asset, position.symbol
    f = filters.get(symbol)
    target = f.quantity_down(position.quantity) if f is not None else position.quantity
    covered = _remaining(stops)
    diff = covered - target
    price = price_in(asset, quote, prices)
    value = abs(diff) * price if price is not None else None
    edge = _edge_name(position.edge)
    if not stops:
        text = (
            f"{asset}: the {edge} position of {_q(position.quantity)} {asset}{_value(value, quote)} on {symbol} "
            f"has no open stop (a SELL stop for {_q(target)} is expected)"
        )
        return Mismatch(
            MismatchKind.POSITION_WITHOUT_STOP, asset, symbol, position.edge, target, covered, diff, value, quote, text
        )
    step = f.step_size if f is not None else ZERO
    if abs(diff) < step or _negligible(diff, f, price, settings):
        return None
    what = "uncovered" if diff < 0 else "more than held"
    text = (
        f"{asset}: the {edge} stops on {symbol} cover {_q(covered)} {asset}, the position holds "
        f"{_q(position.quantity)} (a stop of {_q(target)} is expected): {_q(abs(diff))} {asset}{_value(value, quote)} "
        f"{what}"
    )
    return Mismatch(
        MismatchKind.STOP_QUANTITY_MISMATCH, asset, symbol, position.edge, target, covered, diff, value, quote, text
    )


def _leftover_stop_mismatch(
    symbol: str,
    edge: str | None,
    stops: list[OrderState],
    held: Position | None,
    filters: Mapping[str, SymbolFilters],
    prices: Mapping[str, Decimal],
    settings: ReconcileSettings,
) -> Mismatch | None:
    """Stops of an edge that has no open position on the symbol: they may hold at most what the edge holds there
    (its closed position's dust, or nothing) — beyond that they lock, and may sell, coins of another holder."""
    quote = settings.quote_asset
    f = filters.get(symbol)
    asset = held.base_asset if held is not None else f.base_asset if f is not None and f.base_asset else None
    if asset is None:
        asset = symbol[: -len(quote)] if symbol.endswith(quote) and len(symbol) > len(quote) else symbol
    if asset in settings.ignore_assets or asset == quote:
        return None
    holds = held.quantity if held is not None else ZERO
    target = (f.quantity_down(holds) if f is not None else holds) if holds > 0 else ZERO
    covered = _remaining(stops)
    diff = covered - target
    price = price_in(asset, quote, prices)
    step = f.step_size if f is not None else ZERO
    if diff <= 0 or diff < step or _negligible(diff, f, price, settings):
        return None
    value = diff * price if price is not None else None
    name = _edge_name(edge)
    has = "holds nothing" if holds <= 0 else f"holds only {_q(holds)} {asset} (closed position)"
    text = (
        f"{asset}: stop of {name} on {symbol} for {_q(covered)} {asset}{_value(value, quote)} but {name} {has}: "
        f"a leftover stop that locks, and may sell, {_q(diff)} {asset} of another holder"
    )
    return Mismatch(MismatchKind.STOP_QUANTITY_MISMATCH, asset, symbol, edge, target, covered, diff, value, quote, text)


def reconcile(
    positions: Iterable[Position],
    balances: Mapping[str, Balance],
    open_orders: Iterable[OrderState],
    filters: Mapping[str, SymbolFilters],
    prices: Mapping[str, Decimal],
    settings: ReconcileSettings,
) -> list[Mismatch]:
    """Every mismatch between the tracked positions (open and closed: a closed one's dust is still held) and the
    exchange's balances and open orders, sorted by asset, kind, edge."""
    positions = list(positions)
    by_asset: dict[str, list[Position]] = {}
    for p in positions:
        by_asset.setdefault(p.base_asset, []).append(p)
    out: list[Mismatch] = []
    for asset in compared_assets(positions, balances, settings):
        held = sorted(by_asset.get(asset, []), key=lambda p: (p.edge is None, p.edge or ""))
        fees = fees_paid_in(asset, positions)
        if (m := _balance_mismatch(asset, held, fees, balances.get(asset), filters, prices, settings)) is not None:
            out.append(m)
    groups = stop_groups(open_orders)
    checked: set[StopGroup] = set()
    for p in positions:
        if p.closed or p.base_asset in settings.ignore_assets or p.base_asset == settings.quote_asset:
            continue
        if p.edge is None and not settings.require_stop_for_manual:
            continue
        checked.add((p.symbol, p.edge))
        if (m := _stop_mismatch(p, groups.get((p.symbol, p.edge), []), filters, prices, settings)) is not None:
            out.append(m)
    by_symbol_edge = {(p.symbol, p.edge): p for p in positions}
    for (symbol, edge), stops in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")):
        if (symbol, edge) in checked:
            continue
        own = by_symbol_edge.get((symbol, edge))
        if own is not None and not own.closed:
            continue  # an open manual position whose stops are not required
        if edge is None and not settings.require_stop_for_manual:
            continue  # manual stops are checked only when manual positions need stops
        m = _leftover_stop_mismatch(symbol, edge, stops, own, filters, prices, settings)
        if m is not None:
            out.append(m)
    return sorted(out, key=lambda m: m.sort_key)
