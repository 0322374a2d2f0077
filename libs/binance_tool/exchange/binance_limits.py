"""Binance's REST rate limits as the client sees them: request weight per IP, order counts per account, and the
back-off Binance orders with 429 / 418 + `Retry-After`.

Binance counts in fixed windows (REQUEST_WEIGHT per minute, ORDERS per 10 s and per day, as published in
`exchangeInfo.rateLimits`) and reports the count after each request in `X-MBX-USED-WEIGHT-<n><unit>` and
`X-MBX-ORDER-COUNT-<n><unit>`.  `RateLimits` keeps one counter per window, adds what each request will cost before
it is sent, and adopts the exchange's (higher) figure from every response — other processes on the same IP or
account spend from the same budget.  It is plain code on an injectable clock; the adapter sleeps.

A leaky-bucket limiter (aiolimiter) cannot take the exchange's own counts or a ban into account, hence this.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

UNIT_SECONDS = {"S": 1, "M": 60, "H": 3600, "D": 86_400}
INTERVAL_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}
WEIGHT_HEADER = "x-mbx-used-weight-"
ORDER_HEADER = "x-mbx-order-count-"
# Binance's published spot limits (exchangeInfo.rateLimits), used until exchangeInfo has been read.
DEFAULT_RATE_LIMITS: tuple[dict[str, Any], ...] = (
    {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": 6000},
    {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": 100},
    {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200_000},
)


class RateLimited(Exception):
    """A request may not be sent now; `retry_after_s` says when it may.  `banned` when an IP ban (418) is in force;
    `sent` when the exchange itself refused it (429 / 418), rather than our own bookkeeping before sending."""

    def __init__(
        self, retry_after_s: float, banned: bool = False, what: str = "", sent: bool = False, code: int | None = None
    ) -> None:
        super().__init__(f"{'banned' if banned else 'rate limited'} ({what}); retry after {retry_after_s:.1f}s")
        self.retry_after_s = retry_after_s
        self.banned = banned
        self.sent = sent
        self.code = code


@dataclass
class Window:
    """One fixed window of a limit, aligned to the epoch like Binance's (minute, 10 s, day)."""

    kind: str  # REQUEST_WEIGHT | ORDERS
    key: str  # "1M", "10S", "1D": the suffix of its header
    seconds: int
    limit: int
    used: int = 0
    index: int = -1

    def roll(self, now: float) -> None:
        index = int(now // self.seconds)
        if index != self.index:
            self.index, self.used = index, 0

    def seconds_left(self, now: float) -> float:
        return (self.index + 1) * self.seconds - now


class RateLimits:
    """Budget bookkeeping.  `reserve()` either books the cost of a request or raises `RateLimited` with the wait."""

    def __init__(
        self,
        rate_limits: Iterable[Mapping[str, Any]] = DEFAULT_RATE_LIMITS,
        safety: float = 0.9,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._clock = clock
        self._safety = safety
        self.windows: list[Window] = []
        self.paused_until = 0.0  # after a 429: nobody sends before this
        self.banned_until = 0.0  # after a 418
        self.configure(rate_limits)

    def configure(self, rate_limits: Iterable[Mapping[str, Any]]) -> None:
        """Adopt `exchangeInfo.rateLimits` (keeps the counts of windows that stay)."""
        old = {(w.kind, w.key): w for w in self.windows}
        windows = []
        for entry in rate_limits:
            kind = str(entry.get("rateLimitType", ""))
            letter = INTERVAL_LETTER.get(str(entry.get("interval", "")))
            if kind not in ("REQUEST_WEIGHT", "ORDERS") or letter is None:
                continue  # RAW_REQUESTS and unknown kinds: not paced here
            num = int(entry.get("intervalNum", 1))
            key = f"{num}{letter}"
            window = Window(kind, key, num * UNIT_SECONDS[letter], int(entry["limit"]))
            if (previous := old.get((kind, key))) is not None:
                window.used, window.index = previous.used, previous.index
            windows.append(window)
        if windows:
            self.windows = windows

    def _budget(self, window: Window) -> int:
        return max(1, math.floor(window.limit * self._safety))

    def wait_s(self, weight: int, orders: int = 0) -> tuple[float, str]:
        """Seconds before a request of this cost may be sent (0 = now) and what it waits for."""
        now = self._clock()
        if self.banned_until > now:
            return self.banned_until - now, "IP ban (418)"
        wait, what = 0.0, ""
        if self.paused_until > now:
            wait, what = self.paused_until - now, "Retry-After (429)"
        for w in self.windows:
            cost = weight if w.kind == "REQUEST_WEIGHT" else orders
            if not cost:
                continue
            w.roll(now)
            if w.used + cost > self._budget(w) and w.used > 0 and w.seconds_left(now) > wait:
                wait, what = w.seconds_left(now), f"{w.kind} {w.used}/{w.limit} per {w.key}"
        return wait, what

    def reserve(self, weight: int, orders: int = 0, max_wait_s: float = 0.0) -> float:
        """Book the cost if it fits now and return 0; return the wait (<= max_wait_s) if the caller should sleep
        and ask again; raise RateLimited when banned or the wait is longer than max_wait_s."""
        wait, what = self.wait_s(weight, orders)
        if self.banned_until > self._clock():
            raise RateLimited(wait, banned=True, what=what)
        if wait > max_wait_s:
            raise RateLimited(wait, what=what)
        if wait > 0:
            return wait
        for w in self.windows:
            w.used += weight if w.kind == "REQUEST_WEIGHT" else orders
        return 0.0

    def observe(self, headers: Mapping[str, str]) -> None:
        """Adopt the counts the exchange reported (`X-MBX-USED-WEIGHT-1M`, `X-MBX-ORDER-COUNT-10S`, ...)."""
        now = self._clock()
        by_key = {(w.kind, w.key.upper()): w for w in self.windows}
        for name, value in headers.items():
            lname = name.lower()
            if lname.startswith(WEIGHT_HEADER):
                kind, key = "REQUEST_WEIGHT", lname[len(WEIGHT_HEADER) :].upper()
            elif lname.startswith(ORDER_HEADER):
                kind, key = "ORDERS", lname[len(ORDER_HEADER) :].upper()
            else:
                continue
            window = by_key.get((kind, key))
            if window is None or not value.strip().isdigit():
                continue
            window.roll(now)
            window.used = max(window.used, int(value))

    def pause(self, seconds: float) -> None:
        """A 429 with Retry-After: no request of any kind before it has passed."""
        self.paused_until = max(self.paused_until, self._clock() + seconds)

    def ban(self, seconds: float) -> None:
        """A 418: the IP is banned for `seconds` (Retry-After)."""
        self.banned_until = max(self.banned_until, self._clock() + seconds)

    def orders_exhausted(self) -> float:
        """A 429 without Retry-After on an order (-1015): mark the shortest ORDERS window full; its remaining time."""
        now = self._clock()
        orders = sorted((w for w in self.windows if w.kind == "ORDERS"), key=lambda w: w.seconds)
        if not orders:
            return 10.0
        w = orders[0]
        w.roll(now)
        w.used = max(w.used, w.limit)
        return w.seconds_left(now)

    def banned_for(self) -> float:
        return max(0.0, self.banned_until - self._clock())

    def snapshot(self) -> dict[str, Any]:
        now = self._clock()
        for w in self.windows:
            w.roll(now)
        return {
            "windows": {f"{w.kind}/{w.key}": f"{w.used}/{w.limit}" for w in self.windows},
            "paused_for_s": max(0.0, self.paused_until - now),
            "banned_for_s": max(0.0, self.banned_until - now),
        }


def retry_after_s(headers: Mapping[str, str] | None) -> float | None:
    """The `Retry-After` header in seconds, if present and numeric."""
    if headers is None:
        return None
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
