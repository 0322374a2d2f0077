"""The simulated clock: `sim_now = anchor + (real elapsed since anchor) x speed`, paused at speed 0, stopped at end.

Pure: the real-time source is injected (`monotonic`, seconds), so tests drive it by hand.
"""

from __future__ import annotations

import time
from collections.abc import Callable


class ClockError(ValueError):
    """A control request the clock refuses (e.g. moving backwards)."""


class SimClock:
    def __init__(
        self,
        start_ms: int,
        speed: float,
        end_ms: int | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        if speed < 0:
            raise ClockError("speed must be >= 0")
        if end_ms is not None and end_ms <= start_ms:
            raise ClockError("end must be after start")
        self._monotonic = monotonic
        self.start_ms = start_ms
        self.end_ms = end_ms
        self._speed = float(speed)
        self._paused = False
        self._anchor_sim = float(start_ms)
        self._anchor_real = monotonic()

    # -- reading -----------------------------------------------------------------------------------------------
    def _raw_now(self) -> float:
        if self._paused or self._speed == 0:
            return self._anchor_sim
        return self._anchor_sim + (self._monotonic() - self._anchor_real) * self._speed * 1000.0

    def now_ms(self) -> int:
        now = int(self._raw_now())
        if self.end_ms is not None and now > self.end_ms:
            return self.end_ms
        return now

    @property
    def speed(self) -> float:
        return self._speed

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def finished(self) -> bool:
        return self.end_ms is not None and self.now_ms() >= self.end_ms

    @property
    def running(self) -> bool:
        """True while simulated time moves by itself."""
        return not self._paused and self._speed > 0 and not self.finished

    def real_seconds_since_rebase(self) -> float:
        """Real seconds since the clock was last set (start, advance, pause/resume, speed change)."""
        return max(0.0, self._monotonic() - self._anchor_real)

    def real_seconds_until(self, sim_ms: int) -> float | None:
        """Real seconds until the clock reaches `sim_ms` (0 if passed), None if it will not get there by itself."""
        if self.end_ms is not None and sim_ms > self.end_ms:
            return None  # (checked first: past the end the raw time keeps going but the clock does not)
        now = self._raw_now()
        if sim_ms <= now:
            return 0.0
        if not self.running:
            return None
        return (sim_ms - now) / (self._speed * 1000.0)

    # -- control -----------------------------------------------------------------------------------------------
    def _rebase(self, sim_ms: float) -> None:
        self._anchor_sim = sim_ms
        self._anchor_real = self._monotonic()

    def restart_real_time(self) -> None:
        """Real time starts counting now (called when the server starts serving): the simulated time does not move
        between construction and start-up."""
        self._anchor_real = self._monotonic()

    def pause(self) -> None:
        if not self._paused:
            self._rebase(self._raw_now())
            self._paused = True

    def resume(self) -> None:
        if self._paused:
            self._rebase(self._anchor_sim)
            self._paused = False

    def set_speed(self, speed: float) -> None:
        if speed < 0:
            raise ClockError("speed must be >= 0")
        self._rebase(self._raw_now())
        self._speed = float(speed)

    def advance_to(self, sim_ms: int) -> int:
        """Jump forward to `sim_ms` (clamped to the end); moving backwards is refused.  Returns the new now."""
        now = self.now_ms()
        if sim_ms < now:
            raise ClockError(f"cannot move the clock backwards: {sim_ms} < now {now}")
        if self.end_ms is not None:
            sim_ms = min(sim_ms, self.end_ms)
        self._rebase(float(sim_ms))
        return self.now_ms()

    def advance_by(self, delta_ms: int) -> int:
        if delta_ms < 0:
            raise ClockError("cannot move the clock backwards")
        return self.advance_to(self.now_ms() + delta_ms)
