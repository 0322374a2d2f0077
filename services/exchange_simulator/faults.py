"""Fault injection: websocket drops, REST delays and HTTP 429s; on the trading side order-endpoint 429s followed by
a 418 ban, lost replies of executed order requests and user-data-stream drops.  Set from settings, changed at run
time through `POST /sim/faults`."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

TOO_MANY_REQUESTS_MSG = (
    "Too many requests; current limit of IP is 6000 requests per minute. "
    "Please use the websocket for live updates to avoid polling the API."
)
BANNED_MSG = (
    "Way too much request weight used; IP banned until {until}. "
    "Please use WebSocket Streams for live updates to avoid bans."
)

# requests that change orders: the order faults (429 -> 418, lost replies) apply to them
ORDER_REQUESTS = frozenset(
    {
        ("POST", "/api/v3/order"),
        ("DELETE", "/api/v3/order"),
        ("DELETE", "/api/v3/openOrders"),
        ("POST", "/api/v3/orderList/oco"),
        ("DELETE", "/api/v3/orderList"),
    }
)


def is_order_request(method: str, path: str) -> bool:
    return (method, path) in ORDER_REQUESTS


@dataclass
class Faults:
    ws_drop_every: int = 0  # close each market-stream websocket after every N messages sent on it; 0 = off
    delay_ms: int = 0  # delay every REST response
    http_429_every: int = 0  # every Nth REST request answers HTTP 429; 0 = off
    retry_after_s: int = 1  # the Retry-After header of those 429s (and of the order 429s)
    order_429_next: int = 0  # the next K order requests answer HTTP 429 (not executed)
    order_ban_s: int = 120  # a request before Retry-After elapsed after an order 429 -> HTTP 418 for this long
    reply_lost_next: int = 0  # the next K order requests are executed but their HTTP reply is lost
    reply_lost_mode: Literal["hold", "close"] = "hold"  # hold the connection (reply_lost_hold_s) or close it
    reply_lost_hold_s: float = 30.0
    user_stream_drop_every: int = 0  # close each WebSocket API connection after every N user-data events
    rest_requests: int = 0  # REST requests counted for http_429_every
    # real-time (monotonic seconds) deadlines of the 429 -> 418 escalation; not part of the snapshot
    retry_not_before: float = field(default=0.0, repr=False)
    banned_until: float = field(default=0.0, repr=False)
    monotonic: Callable[[], float] = field(default=time.monotonic, repr=False)

    def count_request_is_429(self) -> bool:
        """Count one REST request; True if this one must be answered with HTTP 429."""
        self.rest_requests += 1
        return self.http_429_every > 0 and self.rest_requests % self.http_429_every == 0

    def should_drop(self, sent_on_connection: int) -> bool:
        return self.ws_drop_every > 0 and sent_on_connection > 0 and sent_on_connection % self.ws_drop_every == 0

    def should_drop_user_stream(self, events_on_connection: int) -> bool:
        n = self.user_stream_drop_every
        return n > 0 and events_on_connection > 0 and events_on_connection % n == 0

    # -- order endpoints: 429, then 418 for clients that do not back off ------------------------------------------
    def ban_remaining_s(self) -> int | None:
        """Seconds left of a running 418 ban (rounded up), or None.  A request arriving before the Retry-After of
        an order 429 has elapsed starts the ban."""
        now = self.monotonic()
        if now < self.banned_until:
            return max(1, math.ceil(self.banned_until - now))
        if now < self.retry_not_before and self.order_ban_s > 0:
            self.banned_until = now + self.order_ban_s
            self.retry_not_before = 0.0
            return self.order_ban_s
        return None

    def take_order_429(self) -> bool:
        """Count one order request; True if it must be answered with HTTP 429 (Retry-After = retry_after_s)."""
        if self.order_429_next <= 0:
            return False
        self.order_429_next -= 1
        self.retry_not_before = self.monotonic() + self.retry_after_s
        return True

    def take_reply_lost(self) -> bool:
        if self.reply_lost_next <= 0:
            return False
        self.reply_lost_next -= 1
        return True

    def snapshot(self) -> dict[str, object]:
        hidden = {"retry_not_before", "banned_until", "monotonic"}
        out: dict[str, object] = {f.name: getattr(self, f.name) for f in fields(self) if f.name not in hidden}
        out["banned"] = self.monotonic() < self.banned_until
        return out


class FaultsUpdate(BaseModel):
    """Body of `POST /sim/faults`: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    ws_drop_every: int | None = Field(default=None, ge=0)
    delay_ms: int | None = Field(default=None, ge=0)
    http_429_every: int | None = Field(default=None, ge=0)
    retry_after_s: int | None = Field(default=None, ge=0)
    order_429_next: int | None = Field(default=None, ge=0)
    order_ban_s: int | None = Field(default=None, ge=0)
    reply_lost_next: int | None = Field(default=None, ge=0)
    reply_lost_mode: Literal["hold", "close"] | None = None
    reply_lost_hold_s: float | None = Field(default=None, ge=0)
    user_stream_drop_every: int | None = Field(default=None, ge=0)
    lift_ban: bool = False  # end a running 418 ban now

    def apply(self, faults: Faults) -> None:
        for name, value in self.model_dump(exclude_none=True, exclude={"lift_ban"}).items():
            setattr(faults, name, value)
        if self.http_429_every is not None:
            faults.rest_requests = 0
        if self.lift_ban:
            faults.banned_until = faults.retry_not_before = 0.0
