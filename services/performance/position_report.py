"""Position performance, pure (no I/O): open positions + last prices → report rows and the user's text.

Unlike the old service: the *average* entry price (cost basis / quantity, buy fees included), and a position
whose symbol has no price is listed as unpriced instead of crashing the report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal

from binance_tool.events.performance import PositionPerformance
from binance_tool.tracking.positions import Position, unrealised_pnl
from services.performance.edge_results import days_between

ZERO = Decimal(0)
MONEY = Decimal("0.01")
PCT = Decimal("0.01")


def position_rows(
    positions: Sequence[Position], prices: Mapping[str, Decimal], now_ms: int
) -> list[PositionPerformance]:
    """One row per position, sorted by unrealised % ascending (worst first); unpriced ones last."""
    rows = []
    for p in positions:
        price = prices.get(p.symbol)
        pnl = unrealised_pnl(p, price) if price is not None else None
        rows.append(
            PositionPerformance(
                symbol=p.symbol,
                base_asset=p.base_asset,
                edge=p.edge,
                quantity=p.quantity,
                average_entry_price=p.average_entry_price,
                cost_basis=p.cost_basis,
                price=price,
                value=p.quantity * price if price is not None else None,
                unrealised_pnl=pnl,
                unrealised_pct=(pnl / p.cost_basis * 100).quantize(PCT) if pnl is not None and p.cost_basis else None,
                opened_at_ms=p.opened_ms,
                days_held=days_between(p.opened_ms, now_ms) if p.opened_ms is not None else None,
            )
        )
    return sorted(rows, key=_order)


def _order(row: PositionPerformance) -> tuple[int, Decimal, str, str]:
    if row.unrealised_pct is None:
        return (1, ZERO, row.symbol, row.edge or "")
    return (0, row.unrealised_pct, row.symbol, row.edge or "")


def report_text(rows: Sequence[PositionPerformance], quote: str = "USDT") -> str:
    lines = [f"{len(rows)} open position{'s' if len(rows) != 1 else ''}:"]
    for r in rows:
        edge = r.edge or "manual"
        entry = _num(r.average_entry_price)
        held = f", {r.days_held} d" if r.days_held is not None else ""
        if r.price is None:
            lines.append(f"{r.base_asset}: unpriced (entry {entry}, {edge}{held})")
            continue
        pct = f"{r.unrealised_pct:+}%" if r.unrealised_pct is not None else "?"
        pnl = f"{r.unrealised_pnl.quantize(MONEY):+} {quote}" if r.unrealised_pnl is not None else "?"
        lines.append(f"{r.base_asset}: {pct} ({pnl}; entry {entry}, now {_num(r.price)}, {edge}{held})")
    priced = [r for r in rows if r.value is not None]
    if priced:
        value = sum((r.value or ZERO for r in priced), ZERO).quantize(MONEY)
        pnl_total = sum((r.unrealised_pnl or ZERO for r in priced), ZERO).quantize(MONEY)
        lines.append(f"value {value} {quote}, unrealised {pnl_total:+} {quote}")
    return "\n".join(lines)


def _num(d: Decimal | None) -> str:
    return "?" if d is None else format(d.normalize(), "f")
