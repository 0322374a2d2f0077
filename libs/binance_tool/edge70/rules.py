"""The edge70 rule (see `../shared/docs/edge70-and-trading-rules.md`).

On each newly closed daily candle C of a market with at least max(long, short) earlier candles:
    long_trigger  = C.high > max(high of the previous `long_lookback` candles)
    short_trigger = C.low  < min(low  of the previous `short_lookback` candles)
Both → the candle is ignored (direction unchanged).  Otherwise a single trigger sets the direction, no trigger
keeps it.  A change from a known direction is a signal; the first direction is only a "possible signal".

Prices are exact integer units (1e-8, `binance_tool.market.units`), so the vectorised comparisons are exact.
Directions are small integers: NONE (0, unknown), LONG (1), SHORT (-1).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from binance_tool.edge70.outcome import Edge70Outcome

NONE, LONG, SHORT = 0, 1, -1
BoolArray = npt.NDArray[np.bool_]
IntArray = npt.NDArray[np.int64]
DirArray = npt.NDArray[np.int8]


@dataclass(frozen=True)
class Edge70Config:
    long_lookback: int = 44
    short_lookback: int = 21

    def __post_init__(self) -> None:
        if self.long_lookback < 1 or self.short_lookback < 1:
            raise ValueError("lookbacks must be at least 1 candle")

    @property
    def history_needed(self) -> int:
        """Earlier candles a market needs before its candles are evaluated."""
        return max(self.long_lookback, self.short_lookback)


def breakout_triggers(highs: IntArray, lows: IntArray, config: Edge70Config) -> tuple[BoolArray, BoolArray]:
    """Long and short triggers for every candle; False where there is not yet enough history."""
    n = highs.shape[0]
    long_t = np.zeros(n, dtype=np.bool_)
    short_t = np.zeros(n, dtype=np.bool_)
    start = config.history_needed
    if n <= start:
        return long_t, short_t
    lb, sb = config.long_lookback, config.short_lookback
    # Window k of sliding_window_view(x[:-1], w) covers x[k : k+w]: the w candles before candle k+w.
    prev_max_high = sliding_window_view(highs[:-1], lb).max(axis=1)  # for candles lb .. n-1
    prev_min_low = sliding_window_view(lows[:-1], sb).min(axis=1)  # for candles sb .. n-1
    long_t[start:] = highs[start:] > prev_max_high[start - lb :]
    short_t[start:] = lows[start:] < prev_min_low[start - sb :]
    return long_t, short_t


def fold_directions(long_t: BoolArray, short_t: BoolArray, initial: int = NONE) -> DirArray:
    """Direction after each candle: the last single-sided trigger's side, else `initial`."""
    step = np.where(long_t & ~short_t, LONG, np.where(short_t & ~long_t, SHORT, NONE)).astype(np.int8)
    idx = np.where(step != NONE, np.arange(step.shape[0]), -1)
    np.maximum.accumulate(idx, out=idx)
    out = np.where(idx >= 0, step[np.maximum(idx, 0)], initial).astype(np.int8)
    return out


@dataclass(frozen=True)
class SeriesResult:
    long_trigger: BoolArray
    short_trigger: BoolArray
    direction: DirArray  # after each candle
    previous: DirArray  # before each candle
    evaluated: BoolArray  # candle had full history

    @property
    def signal_mask(self) -> BoolArray:
        """Direction changed from a known direction (the trade signals)."""
        mask: BoolArray = self.evaluated & (self.previous != NONE) & (self.direction != self.previous)
        return mask

    @property
    def first_direction_mask(self) -> BoolArray:
        """Direction became known for the first time ('possible signal — check manually')."""
        mask: BoolArray = self.evaluated & (self.previous == NONE) & (self.direction != NONE)
        return mask

    def outcome(self, i: int) -> Edge70Outcome:
        if not self.evaluated[i]:
            return Edge70Outcome.INSUFFICIENT_HISTORY
        if self.long_trigger[i] and self.short_trigger[i]:
            return Edge70Outcome.BOTH_TRIGGERS_IGNORED
        if self.direction[i] == NONE:
            return Edge70Outcome.NO_DIRECTION
        if self.previous[i] == NONE:
            return Edge70Outcome.FIRST_DIRECTION
        if self.direction[i] != self.previous[i]:
            return Edge70Outcome.SIGNAL
        return Edge70Outcome.UNCHANGED


def evaluate_series(
    highs: IntArray, lows: IntArray, config: Edge70Config, initial: int = NONE, evaluate_from: int = 0
) -> SeriesResult:
    """Evaluate every candle of a series (candles before `evaluate_from` are history only)."""
    long_t, short_t = breakout_triggers(highs, lows, config)
    if evaluate_from:
        long_t[:evaluate_from] = False
        short_t[:evaluate_from] = False
    direction = fold_directions(long_t, short_t, initial)
    previous = np.empty_like(direction)
    if direction.shape[0]:
        previous[0] = initial
        previous[1:] = direction[:-1]
    evaluated = np.zeros(highs.shape[0], dtype=np.bool_)
    evaluated[max(config.history_needed, evaluate_from) :] = True
    return SeriesResult(long_t, short_t, direction, previous, evaluated)


@dataclass(frozen=True)
class Evaluation:
    long_trigger: bool
    short_trigger: bool
    previous: int
    direction: int
    outcome: Edge70Outcome


@dataclass
class MarketEdge:
    """Live state of one market: the last `history_needed` candles' highs and lows.

    `evaluate` runs the same vectorised rule as `evaluate_series` on the window plus the new candle.
    The caller owns the direction (it is persisted in Redis) and passes it in.
    """

    config: Edge70Config
    highs: deque[int] = field(default_factory=deque)
    lows: deque[int] = field(default_factory=deque)

    def __post_init__(self) -> None:
        self.highs = deque(self.highs, maxlen=self.config.history_needed)
        self.lows = deque(self.lows, maxlen=self.config.history_needed)

    @property
    def has_full_history(self) -> bool:
        return len(self.highs) >= self.config.history_needed

    def push(self, high: int, low: int) -> None:
        """Add a candle to the history without evaluating it (warm-up)."""
        self.highs.append(high)
        self.lows.append(low)

    def evaluate(self, high: int, low: int, direction: int) -> Evaluation:
        """Evaluate a newly closed candle against the history, then add it to the history."""
        try:
            if not self.has_full_history:
                return Evaluation(False, False, direction, direction, Edge70Outcome.INSUFFICIENT_HISTORY)
            highs = np.fromiter((*self.highs, high), dtype=np.int64, count=len(self.highs) + 1)
            lows = np.fromiter((*self.lows, low), dtype=np.int64, count=len(self.lows) + 1)
            result = evaluate_series(highs, lows, self.config, initial=direction, evaluate_from=highs.shape[0] - 1)
            i = highs.shape[0] - 1
            return Evaluation(
                bool(result.long_trigger[i]),
                bool(result.short_trigger[i]),
                int(result.previous[i]),
                int(result.direction[i]),
                result.outcome(i),
            )
        finally:
            # The candle joins the history even if evaluation failed: a skipped candle would corrupt the window.
            self.push(high, low)
