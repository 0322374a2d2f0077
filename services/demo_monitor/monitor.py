"""What the local demo shows: an aggregate of the bus traffic, rendered with rich."""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

from rich.console import Group
from rich.panel import Panel
from rich.table import Table

from binance_tool.bus.api import Delivery
from binance_tool.events import (
    CandleClosed,
    Edge70CandleEvaluated,
    Edge70Signal,
    EntrySized,
    Envelope,
    PortfolioValued,
    PositionChanged,
    PositionMismatchFound,
    PositionsChecked,
    SendUserMessage,
    TradeResult,
)


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d")


@dataclass
class Monitor:
    candles: int = 0
    candles_by_source: Counter[str] = field(default_factory=Counter)
    last_candle_ms: int = 0
    evaluations: int = 0
    directions: dict[str, str] = field(default_factory=dict)
    signals: deque[Edge70Signal] = field(default_factory=lambda: deque(maxlen=12))
    signal_count: Counter[str] = field(default_factory=Counter)
    messages: deque[SendUserMessage] = field(default_factory=lambda: deque(maxlen=5))
    message_count: int = 0
    sizing: Counter[str] = field(default_factory=Counter)
    trades: deque[TradeResult] = field(default_factory=lambda: deque(maxlen=8))
    trade_count: Counter[str] = field(default_factory=Counter)
    portfolio: PortfolioValued | None = None
    open_positions: dict[str, Decimal] = field(default_factory=dict)  # "BASE edge" → quantity held
    realised: dict[str, Decimal] = field(default_factory=dict)  # "BASE edge" → cumulative realised P&L
    position_changes: Counter[str] = field(default_factory=Counter)
    last_check: PositionsChecked | None = None
    mismatches: int = 0

    async def handle(self, event: Envelope, _delivery: Delivery | None = None) -> None:
        if isinstance(event, CandleClosed):
            self.candles += 1
            self.candles_by_source[event.source] += 1
            self.last_candle_ms = max(self.last_candle_ms, event.open_time_ms)
        elif isinstance(event, Edge70CandleEvaluated):
            self.evaluations += 1
            self.directions[event.market.base_asset] = event.direction.value if event.direction else "?"
        elif isinstance(event, Edge70Signal):
            self.signals.append(event)
            self.signal_count[event.direction.value] += 1
        elif isinstance(event, EntrySized):
            self.sizing["accepted" if event.accepted else f"refused {event.binding}"] += 1
        elif isinstance(event, TradeResult):
            self.trades.append(event)
            self.trade_count[f"{event.action} {event.status}"] += 1
        elif isinstance(event, PortfolioValued):
            if self.portfolio is None or event.ts_event_ms >= self.portfolio.ts_event_ms:
                self.portfolio = event
        elif isinstance(event, PositionChanged):
            key = f"{event.base_asset} {event.edge or 'manual'}"
            self.position_changes[event.change] += 1
            self.realised[key] = event.realised_pnl
            if event.change == "closed":
                self.open_positions.pop(key, None)
            else:
                self.open_positions[key] = event.quantity
        elif isinstance(event, PositionsChecked):
            self.last_check = event
        elif isinstance(event, PositionMismatchFound):
            self.mismatches += 1
        elif isinstance(event, SendUserMessage):
            self.messages.append(event)
            self.message_count += 1

    def render(self, status: dict[str, object], processes: dict[str, str]) -> Group:
        head = Table.grid(padding=(0, 2))
        sim_ms = status.get("simTime") or 0
        head.add_row(
            f"[bold]simulated time[/bold] {_day(int(sim_ms)) if sim_ms else '-'}",  # type: ignore[call-overload]
            f"[bold]candles ingested[/bold] {self.candles} "
            f"(ws {self.candles_by_source['websocket']}, rest back-fill {self.candles_by_source['rest-backfill']})",
            f"[bold]last candle[/bold] {_day(self.last_candle_ms) if self.last_candle_ms else '-'}",
        )
        head.add_row(
            f"[bold]evaluations[/bold] {self.evaluations}",
            f"[bold]signals[/bold] long {self.signal_count['long']} / short {self.signal_count['short']}",
            f"[bold]user messages[/bold] {self.message_count}",
        )
        procs = "  ".join(f"{name}: [{'green' if st == 'running' else 'red'}]{st}[/]" for name, st in processes.items())
        dirs = Table(title="edge70 direction per market", show_header=False, box=None, padding=(0, 1))
        items = sorted(self.directions.items())
        cols = 6
        for i in range(0, len(items), cols):
            row = []
            for base, d in items[i : i + cols]:
                colour = {"long": "green", "short": "red"}.get(d, "yellow")
                row.append(f"{base:<6}[{colour}]{d:<5}[/]")
            dirs.add_row(*row)
        sig = Table(title="latest signals", expand=False)
        for col in ("candle", "symbol", "direction", "previous", "price"):
            sig.add_column(col)
        for s in reversed(self.signals):
            colour = "green" if s.direction.value == "long" else "red"
            sig.add_row(
                _day(s.candle_open_time_ms),
                s.market.symbol,
                f"[{colour}]{s.direction.value}[/]",
                s.previous_direction.value,
                str(s.signal_price),
            )
        sized = ", ".join(f"{k} {v}" for k, v in sorted(self.sizing.items())) or "-"
        head.add_row(f"[bold]sizing[/bold] {sized}", "", "")
        p = self.portfolio
        value = (
            "-"
            if p is None
            else f"{p.total_quote:,.2f} {p.quote_asset}" + ("" if p.total_usd is None else f" ≈ {p.total_usd:,.2f} USD")
        )
        held = ", ".join(f"{k} {q.normalize():f}" for k, q in sorted(self.open_positions.items())) or "none"
        realised = sum(self.realised.values(), Decimal(0))
        check = (
            "-"
            if self.last_check is None
            else (f"{self.last_check.positions} positions, {self.last_check.mismatch_count} mismatches")
        )
        head.add_row(
            f"[bold]portfolio[/bold] {value}",
            f"[bold]realised P&L[/bold] {realised:,.2f} (positions opened {self.position_changes['opened']}, "
            f"closed {self.position_changes['closed']})",
            f"[bold]last check vs exchange[/bold] {check}"
            + (f" [red]({self.mismatches} mismatches reported)[/red]" if self.mismatches else ""),
        )
        head.add_row(f"[bold]open positions[/bold] {held}", "", "")
        trades = Table(title="latest trade results (Trade Abstraction Service)", expand=False)
        for col in ("action", "symbol", "status", "filled", "detail"):
            trades.add_column(col)
        for t in reversed(self.trades):
            colour = "green" if t.http_status < 300 else "yellow" if t.http_status < 500 else "red"
            trades.add_row(t.action, t.market.symbol, f"[{colour}]{t.status}[/]", str(t.executed_qty), t.msg[:70])
        msgs = "\n".join(f"[dim]{m.service}[/dim] {m.text}" for m in reversed(self.messages)) or "-"
        return Group(
            Panel(head, title="binance-tool local demo — Ctrl-C stops", subtitle=procs),
            dirs,
            sig,
            trades,
            Panel(msgs, title="latest user messages"),
        )
