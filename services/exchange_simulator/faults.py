"""Fault injection: websocket drops, REST delays and HTTP 429s.  Set from settings, changed at run time through
`POST /sim/faults`."""

from __future__ import annotations

from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict, Field

TOO_MANY_REQUESTS_MSG = (
    "Too many requests; current limit of IP is 6000 requests per minute. "
    "Please use the websocket for live updates to avoid polling the API."
)


@dataclass
class Faults:
    ws_drop_every: int = 0  # close each websocket after every N messages sent on it; 0 = off
    delay_ms: int = 0  # delay every REST response
    http_429_every: int = 0  # every Nth REST request answers HTTP 429; 0 = off
    retry_after_s: int = 1  # the Retry-After header of those 429s
    rest_requests: int = 0  # REST requests counted for http_429_every

    def count_request_is_429(self) -> bool:
        """Count one REST request; True if this one must be answered with HTTP 429."""
        self.rest_requests += 1
        return self.http_429_every > 0 and self.rest_requests % self.http_429_every == 0

    def should_drop(self, sent_on_connection: int) -> bool:
        return self.ws_drop_every > 0 and sent_on_connection > 0 and sent_on_connection % self.ws_drop_every == 0

    def snapshot(self) -> dict[str, int]:
        return asdict(self)


class FaultsUpdate(BaseModel):
    """Body of `POST /sim/faults`: only the fields sent are changed."""

    model_config = ConfigDict(extra="forbid")

    ws_drop_every: int | None = Field(default=None, ge=0)
    delay_ms: int | None = Field(default=None, ge=0)
    http_429_every: int | None = Field(default=None, ge=0)
    retry_after_s: int | None = Field(default=None, ge=0)

    def apply(self, faults: Faults) -> None:
        for name, value in self.model_dump(exclude_none=True).items():
            setattr(faults, name, value)
        if self.http_429_every is not None:
            faults.rest_requests = 0
