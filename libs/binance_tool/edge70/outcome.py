"""What one evaluation of a candle decided (pure: the events module re-exports it)."""

from __future__ import annotations

from enum import StrEnum


class Edge70Outcome(StrEnum):
    INSUFFICIENT_HISTORY = "insufficient_history"
    NO_DIRECTION = "no_direction"
    UNCHANGED = "unchanged"
    FIRST_DIRECTION = "first_direction"  # "possible signal — check manually"
    SIGNAL = "signal"
    BOTH_TRIGGERS_IGNORED = "both_triggers_ignored"
