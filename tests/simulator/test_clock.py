"""The simulated clock: speed scaling, pause/resume, advancing, the end."""

from __future__ import annotations

import pytest

from services.exchange_simulator.clock import ClockError, SimClock


class FakeMonotonic:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_sim_time_moves_speed_times_faster_than_real_time():
    real = FakeMonotonic()
    clock = SimClock(start_ms=0, speed=86_400, monotonic=real)
    real.t += 0.5
    assert clock.now_ms() == 43_200_000  # half a real second = half a simulated day


def test_speed_zero_keeps_the_clock_still_until_advanced():
    real = FakeMonotonic()
    clock = SimClock(start_ms=5_000, speed=0, monotonic=real)
    real.t += 100
    assert clock.now_ms() == 5_000 and not clock.running
    assert clock.advance_to(9_000) == 9_000
    assert clock.advance_by(1_000) == 10_000


def test_pause_freezes_and_resume_continues_from_the_same_instant():
    real = FakeMonotonic()
    clock = SimClock(start_ms=0, speed=10, monotonic=real)
    real.t += 1
    clock.pause()
    real.t += 50
    assert clock.now_ms() == 10_000 and clock.paused
    clock.resume()
    real.t += 1
    assert clock.now_ms() == 20_000


def test_clock_refuses_to_move_backwards():
    clock = SimClock(start_ms=5_000, speed=0)
    with pytest.raises(ClockError):
        clock.advance_to(4_999)


def test_clock_stops_at_the_end_and_reports_finished():
    real = FakeMonotonic()
    clock = SimClock(start_ms=0, speed=1, end_ms=2_000, monotonic=real)
    real.t += 10
    assert clock.now_ms() == 2_000 and clock.finished and not clock.running
    assert clock.advance_to(10_000) == 2_000


def test_real_seconds_until_a_sim_instant_depends_on_speed_and_state():
    real = FakeMonotonic()
    clock = SimClock(start_ms=0, speed=3_600, monotonic=real)
    assert clock.real_seconds_until(3_600_000) == pytest.approx(1.0)
    assert clock.real_seconds_until(0) == 0.0
    clock.pause()
    assert clock.real_seconds_until(3_600_000) is None


def test_real_time_before_serving_does_not_count():
    real = FakeMonotonic()
    clock = SimClock(start_ms=0, speed=86_400, monotonic=real)
    real.t += 2  # loading data
    clock.restart_real_time()
    assert clock.now_ms() == 0
    real.t += 1
    assert clock.now_ms() == 86_400_000


def test_a_clock_past_its_end_never_asks_to_be_woken_for_a_later_boundary():
    from services.exchange_simulator.clock import SimClock

    real = [0.0]
    clock = SimClock(0, 3_600_000.0, end_ms=3_600_000, monotonic=lambda: real[0])
    real[0] = 10.0  # far past the end in raw time
    assert clock.now_ms() == 3_600_000
    assert clock.real_seconds_until(7_200_000) is None  # not 0: the hub would spin
