"""The backtest: the production edge70 rule, sizer, filters and stop semantics on historical candles.

Signals come from `binance_tool.edge70.rules.evaluate_series` (the code the live service runs), entries are sized
by `binance_tool.trading.size_entry` with prices rounded by the same `SymbolFilters` and `ExecutionSettings`.

Event order within one candle time (all symbols share one time grid): 0 signal exits at the open, 1 stop exits,
2 entry fills, 3 the close: new signals, sized one after another in symbol order.  Only candles where something
happens are visited (a heap of events); a position's exit is found when it is entered — the first candle whose
low reaches the stop, or the open after the next short signal — and happens when that candle is visited, so no
decision ever sees a later candle.  Money is Decimal in the ledger; the equity curve is rebuilt vectorised
(float) from the ledger's cash movements and positions afterwards.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import cast

import numpy as np

from binance_tool.backtest.model import (
    BacktestResult,
    BacktestSettings,
    ExitReason,
    SignalAction,
    SignalRecord,
    Trade,
)
from binance_tool.edge70.rules import LONG, SHORT, evaluate_series
from binance_tool.market.candles import INTERVAL_MS, CandleSeries
from binance_tool.market.units import PRICE_DECIMALS, to_units
from binance_tool.trading import Exposure, PortfolioState, SymbolFilters, fee, size_entry

EXIT_AT_OPEN, STOP, FILL, CLOSE = 0, 1, 2, 3


def from_units(units: int) -> Decimal:
    """Exact price of integer 1e-8 units (not normalised: cheaper, and equal as a number)."""
    return Decimal(units).scaleb(-PRICE_DECIMALS)


_NAMES = {LONG: "long", SHORT: "short"}
ProgressFn = Callable[[int, int], None]


@dataclass
class _Market:
    order: int
    series: CandleSeries
    filters: SymbolFilters
    gidx: np.ndarray  # global time index of each candle (-1 before the trading window)
    short_idx: np.ndarray  # candle indices of short signals (sorted)
    latest: np.ndarray  # for each global time, the index of this market's latest candle (-1: none yet)


@dataclass
class _Pending:
    record: SignalRecord
    quantity: Decimal
    limit: Decimal
    reserved: Decimal
    bar: int  # first candle the order can fill in


@dataclass
class _Position:
    pid: int
    record: SignalRecord
    quantity: Decimal
    entry: Decimal
    entry_fee: Decimal
    stop: Decimal
    at_open: bool
    bar: int


class _Simulation:
    def __init__(
        self, markets: dict[str, _Market], times: np.ndarray, settings: BacktestSettings, interval: str
    ) -> None:
        self.m = markets
        self.step = INTERVAL_MS[interval]
        self.times = times
        self.s = settings
        self.free = settings.initial_capital
        self.reserved = Decimal(0)
        self.pending: dict[str, _Pending] = {}
        self.positions: dict[str, _Position] = {}
        self.heap: list[tuple[int, int, int, int, str, object]] = []
        self.seq = 0
        self.trades: list[Trade] = []
        self.signals: list[SignalRecord] = []
        self.cash_moves: list[tuple[int, int, float]] = []  # (global time, symbol order, amount)
        self.holding_spans: list[tuple[int, int, int, float]] = []  # (symbol order, from, to (excl.), quantity)

    def push(self, t: int, phase: int, symbol: str, payload: object) -> None:
        self.seq += 1
        heapq.heappush(self.heap, (t, phase, self.m[symbol].order, self.seq, symbol, payload))

    # --- portfolio as the sizer sees it at the close of global time t ----------------------------------
    def _mark(self, symbol: str, t: int) -> Decimal:
        mk = self.m[symbol]
        return from_units(int(mk.series.close[mk.latest[t]]))

    def state(self, t: int) -> PortfolioState:
        exposures = [Exposure(s, p.quantity, p.entry, p.stop, self._mark(s, t)) for s, p in self.positions.items()] + [
            Exposure(s, p.quantity, p.limit, p.record.planned_stop, p.limit, pending=True)
            for s, p in self.pending.items()
        ]
        return PortfolioState(self.free, self.reserved, tuple(exposures))

    # --- events ------------------------------------------------------------------------------------------
    def on_signal(self, t: int, symbol: str, i: int, direction: int, previous: int) -> None:
        mk = self.m[symbol]
        series, step = mk.series, self.step
        price = series.close_at(i)
        rec = SignalRecord(
            symbol, int(series.open_time_ms[i]), int(series.open_time_ms[i]) + step,
            _NAMES[direction], _NAMES[previous], price, SignalAction.NO_POSITION,
        )  # fmt: skip
        self.signals.append(rec)
        has_next = i + 1 < len(series)
        if direction == SHORT:
            if (order := self.pending.pop(symbol, None)) is not None:  # cancel an entry still working
                self.free += order.reserved
                self.reserved -= order.reserved
            if symbol in self.positions:
                rec.action = SignalAction.EXIT if has_next else SignalAction.EXIT_PENDING_AT_END
            return
        if symbol in self.positions or symbol in self.pending:
            rec.action = SignalAction.ALREADY_IN_POSITION
            return
        ex = self.s.execution
        rec.limit_price = ex.entry_limit_price(price, mk.filters)
        rec.planned_stop = ex.stop_price(rec.limit_price, mk.filters)
        decision = size_entry(self.s.sizing, self.state(t), mk.filters, rec.limit_price, rec.planned_stop)
        rec.decision = decision
        if not decision.accepted:
            rec.action = SignalAction.REFUSED
            return
        reserved = decision.quantity * rec.limit_price * (1 + self.s.fee_rate)
        self.free -= reserved
        self.reserved += reserved
        self.pending[symbol] = _Pending(rec, decision.quantity, rec.limit_price, reserved, i + 1)
        if has_next:
            self.push(int(mk.gidx[i + 1]), FILL, symbol, i + 1)
            rec.action = SignalAction.ENTRY_NOT_FILLED  # until it fills
        else:
            rec.action = SignalAction.ENTRY_PENDING_AT_END

    def on_fill(self, symbol: str, bar: int) -> None:
        mk = self.m[symbol]
        order = self.pending.get(symbol)
        if order is None or order.bar != bar:  # cancelled by a short signal meanwhile
            return
        del self.pending[symbol]
        self.free += order.reserved
        self.reserved -= order.reserved
        series, limit = mk.series, to_units(order.limit)
        last = min(len(series), order.bar + self.s.execution.entry_timeout_candles)
        for j in range(order.bar, last):
            o, low = int(series.open[j]), int(series.low[j])
            if o <= limit or low <= limit:
                self._enter(symbol, order, j, min(o, limit), o <= limit)
                return
            if j + 1 < last:  # still working: look again at the next candle
                self.pending[symbol] = order
                self.free -= order.reserved
                self.reserved += order.reserved
                order.bar = j + 1
                self.push(int(mk.gidx[j + 1]), FILL, symbol, j + 1)
                return

    def _enter(self, symbol: str, order: _Pending, j: int, price_units: int, at_open: bool) -> None:
        mk = self.m[symbol]
        price = from_units(price_units)
        cost = order.quantity * price
        entry_fee = fee(cost, self.s.fee_rate)
        self.free -= cost + entry_fee
        t = int(mk.gidx[j])
        self.cash_moves.append((t, mk.order, -float(cost + entry_fee)))
        stop = self.s.execution.stop_price(price, mk.filters)
        order.record.action = SignalAction.ENTRY_FILLED
        self.seq += 1
        pos = _Position(self.seq, order.record, order.quantity, price, entry_fee, stop, at_open, j)
        self.positions[symbol] = pos
        self._schedule_exit(symbol, pos)

    def _schedule_exit(self, symbol: str, pos: _Position) -> None:
        """The first candle whose low reaches the stop, up to the next short signal; else the open after it."""
        mk = self.m[symbol]
        series = mk.series
        k = int(np.searchsorted(mk.short_idx, pos.bar))  # first short signal at or after the fill candle
        until = int(mk.short_idx[k]) if k < mk.short_idx.shape[0] else len(series) - 1
        first = pos.bar if pos.at_open else pos.bar + 1
        stop = to_units(pos.stop)
        hits = np.flatnonzero(series.low[first : until + 1] <= stop)
        if hits.shape[0]:
            j = first + int(hits[0])
            price = min(int(series.open[j]), stop) if j > pos.bar else stop
            self.push(int(mk.gidx[j]), STOP, symbol, (pos.pid, j, price, ExitReason.STOP))
        elif k < mk.short_idx.shape[0] and until + 1 < len(series):
            j = until + 1
            self.push(int(mk.gidx[j]), EXIT_AT_OPEN, symbol, (pos.pid, j, int(series.open[j]), ExitReason.SIGNAL))

    def on_exit(self, symbol: str, pid: int, j: int, price_units: int, reason: ExitReason) -> None:
        pos = self.positions.get(symbol)
        if pos is None or pos.pid != pid:
            return
        del self.positions[symbol]
        mk = self.m[symbol]
        price = from_units(price_units)
        proceeds = pos.quantity * price
        exit_fee = fee(proceeds, self.s.fee_rate)
        self.free += proceeds - exit_fee
        self.cash_moves.append((int(mk.gidx[j]), mk.order, float(proceeds - exit_fee)))
        self._record(symbol, pos, j, price, exit_fee, reason)

    def _record(self, symbol: str, pos: _Position, j: int, price: Decimal, exit_fee: Decimal, r: ExitReason) -> None:
        mk = self.m[symbol]
        series = mk.series
        self.trades.append(
            Trade(
                symbol, pos.record.signal_time_ms, int(series.open_time_ms[pos.bar]), pos.entry, pos.at_open,
                int(series.open_time_ms[j]), price, pos.quantity, pos.entry_fee, exit_fee, r, pos.stop, j - pos.bar,
            )
        )  # fmt: skip
        held_to = int(mk.gidx[j]) + (1 if r is ExitReason.END else 0)
        self.holding_spans.append((mk.order, int(mk.gidx[pos.bar]), held_to, float(pos.quantity)))

    def finish(self) -> None:
        for symbol, pos in list(self.positions.items()):
            last = len(self.m[symbol].series) - 1
            self._record(symbol, pos, last, self.m[symbol].series.close_at(last), Decimal(0), ExitReason.END)
        self.positions.clear()
        for order in self.pending.values():
            self.free += order.reserved
        self.reserved = Decimal(0)
        self.pending.clear()


def run_backtest(
    series: Mapping[str, CandleSeries],
    filters: Mapping[str, SymbolFilters],
    interval: str,
    settings: BacktestSettings,
    progress: ProgressFn | None = None,
) -> BacktestResult:
    """Simulate the whole portfolio; `series` holds each market's candles (warm-up included)."""
    symbols = sorted(series)
    start = settings.start_ms if settings.start_ms is not None else -(2**62)
    end = settings.end_ms if settings.end_ms is not None else 2**62
    cut = {s: _cut(series[s], end) for s in symbols}
    window = [cut[s].open_time_ms[cut[s].open_time_ms >= start] for s in symbols]
    times = np.unique(np.concatenate(window)) if window else np.empty(0, dtype=np.int64)
    markets: dict[str, _Market] = {}
    events: list[tuple[int, int, int, int]] = []  # (global time, order, candle index, direction)
    for order, s in enumerate(symbols):
        c = cut[s]
        gidx = np.where(c.open_time_ms >= start, np.searchsorted(times, c.open_time_ms), -1)
        r = evaluate_series(c.high, c.low, settings.edge)
        sig = np.flatnonzero(r.signal_mask & (gidx >= 0))
        latest = np.full(times.shape[0], -1, dtype=np.int64)
        inside = gidx >= 0
        latest[gidx[inside]] = np.flatnonzero(inside)
        np.maximum.accumulate(latest, out=latest)
        markets[s] = _Market(order, c, filters[s], gidx, sig[r.direction[sig] == SHORT], latest)
        events += [(int(gidx[i]), order, int(i), int(r.direction[i])) for i in sig]
    sim = _Simulation(markets, times, settings, interval)
    for t, order, i, direction in events:
        heapq.heappush(sim.heap, (t, CLOSE, order, i, symbols[order], direction))
    total, done = len(sim.heap), 0
    while sim.heap:
        t, phase, _, i, symbol, payload = heapq.heappop(sim.heap)
        if phase == CLOSE:
            direction = cast(int, payload)
            sim.on_signal(t, symbol, i, direction, -direction)  # a signal always flips a known direction
            done += 1
            if progress and done % 256 == 0:
                progress(done, total)
        elif phase == FILL:
            sim.on_fill(symbol, cast(int, payload))
        else:
            pid, j, price, reason = cast(tuple[int, int, int, ExitReason], payload)
            sim.on_exit(symbol, pid, j, price, reason)
    sim.finish()
    if progress:
        progress(total, total)
    from binance_tool.backtest.equity import build_result

    return build_result(sim, settings, interval, symbols, markets, times, sum(len(c) for c in cut.values()))


def _cut(s: CandleSeries, end_ms: int) -> CandleSeries:
    n = int(np.searchsorted(s.open_time_ms, end_ms, side="right"))
    return s if n == len(s) else s.window(0, n)
