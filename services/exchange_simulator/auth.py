"""Binance request security for the simulated account, and a parameter reader with Binance's errors.

- API key (`X-MBX-APIKEY` on REST, `apiKey` on the WebSocket API): missing or malformed -> -2014, another key ->
  -2015 (HTTP 401).
- `timestamp` / `recvWindow` (default 5000, at most 60000) against the SIMULATED clock (-1021).  Binance accepts
  `timestamp < serverTime + 1000` and `serverTime - timestamp <= recvWindow`.  When the replay runs faster than real
  time both margins are multiplied by the speed (they stay the same in REAL milliseconds: a client's clock synced
  once drifts behind by (speed - 1) ms per real ms); while the clock is slower than real time or stands still, the
  real time elapsed since the clock was last set is added to the "ahead" margin (a synced client runs ahead of it).
- `signature`: hex HMAC-SHA256 with the secret, case-insensitive.  REST: over `totalParams` = query string + body
  as sent, without the `signature` pair; python-binance signs the values before aiohttp form-encodes the body, so
  the decoded `key=value&...` text is accepted too.  WebSocket API: over the params except `signature`, sorted by
  name, as `key=value&...` (plain or url-encoded).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal
from urllib.parse import parse_qsl, urlencode

from services.exchange_simulator.clock import SimClock
from services.exchange_simulator.rest import BinanceError
from services.exchange_simulator.settings import API_KEY_RE

DECIMAL_RE = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
DECIMAL_RANGE = r"^([0-9]{1,20})(\.[0-9]{1,20})?$"
INT_RE = re.compile(r"^-?[0-9]{1,20}$")
INT_RANGE = r"^-?[0-9]{1,20}$"
DEFAULT_RECV_WINDOW = Decimal(5000)
MAX_RECV_WINDOW = Decimal(60000)


def illegal(name: str, legal_range: str) -> BinanceError:
    return BinanceError(-1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal_range}'.")


def missing(name: str) -> BinanceError:
    return BinanceError(-1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def bad_api_key_format() -> BinanceError:
    return BinanceError(-2014, "API-key format invalid.", status=401)


def rejected_api_key() -> BinanceError:
    return BinanceError(-2015, "Invalid API-key, IP, or permissions for action.", status=401)


def check_api_key(sent: str | None, expected: str) -> None:
    if not sent or not API_KEY_RE.match(sent):
        raise bad_api_key_format()
    if not hmac.compare_digest(sent, expected):
        raise rejected_api_key()


class Params:
    """Request parameters (strings) with Binance's errors; remembers which were read (-1104 for the rest)."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self.values = dict(values)
        self.read: set[str] = set()

    def has(self, name: str) -> bool:
        return self.values.get(name, "") != ""

    def get(self, name: str) -> str | None:
        self.read.add(name)
        value = self.values.get(name)
        return None if value is None or value == "" else value

    def mandatory(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise missing(name)
        return value

    def decimal(self, name: str, *, mandatory: bool = False) -> Decimal | None:
        value = self.mandatory(name) if mandatory else self.get(name)
        if value is None:
            return None
        if not DECIMAL_RE.match(value):
            raise illegal(name, DECIMAL_RANGE)
        return Decimal(value)

    def integer(self, name: str, *, mandatory: bool = False) -> int | None:
        value = self.mandatory(name) if mandatory else self.get(name)
        if value is None:
            return None
        if not INT_RE.match(value):
            raise illegal(name, INT_RANGE)
        return int(value)

    def not_sent(self, *names: str) -> None:
        """-1106 for a parameter this request must not carry."""
        for name in names:
            if self.has(name):
                raise BinanceError(-1106, f"Parameter '{name}' sent when not required.")
            self.read.add(name)

    def check_all_read(self) -> None:
        sent = [k for k in self.values if k not in self.read]
        if sent:
            raise BinanceError(
                -1104,
                f"Not all sent parameters were read; read '{len(self.values) - len(sent)}' parameter(s) "
                f"but was sent '{len(self.values)}'.",
            )


# -- REST ------------------------------------------------------------------------------------------------------
def _pairs(text: str) -> list[tuple[str, str]]:
    return parse_qsl(text, keep_blank_values=True)


def parse_total_params(query: str, body: str) -> dict[str, str]:
    """Query string and form body merged; a parameter in both takes the query string's value (Binance's rule)."""
    out: dict[str, str] = {}
    for source in (body, query):
        seen: set[str] = set()
        for key, value in _pairs(source):
            if key in seen:
                raise BinanceError(-1101, "Duplicate values for a parameter detected.")
            seen.add(key)
            out[key] = value
    return out


def _without_signature(text: str) -> str:
    return "&".join(p for p in text.split("&") if p and not p.startswith("signature="))


def _decoded(text: str) -> str:
    return "&".join(f"{k}={v}" for k, v in _pairs(text) if k != "signature")


def rest_payloads(query: str, body: str) -> list[str]:
    """The strings a client may have signed: totalParams as sent, and its decoded form."""
    return [_without_signature(query) + _without_signature(body), _decoded(query) + _decoded(body)]


def verify_signature(secret: str, payloads: Iterable[str], signature: str) -> None:
    sent = signature.strip().lower()
    for payload in payloads:
        expected = hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if hmac.compare_digest(expected, sent):
            return
    raise BinanceError(-1022, "Signature for this request is not valid.")


# -- WebSocket API ---------------------------------------------------------------------------------------------
def _text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def ws_payloads(params: Mapping[str, object]) -> list[str]:
    items = sorted((k, _text(v)) for k, v in params.items() if k != "signature")
    return ["&".join(f"{k}={v}" for k, v in items), urlencode(items)]


# -- timing ----------------------------------------------------------------------------------------------------
def recv_window(params: Params) -> Decimal:
    value = params.decimal("recvWindow")
    if value is None:
        return DEFAULT_RECV_WINDOW
    if value > MAX_RECV_WINDOW:
        raise BinanceError(-1131, "recvWindow must be less than 60000")
    return value


def check_timestamp(timestamp: int, window: Decimal, clock: SimClock) -> None:
    now = clock.now_ms()
    speed = clock.speed if clock.running else 0.0
    scale = max(1.0, speed)
    slack_ms = max(0.0, 1.0 - speed) * clock.real_seconds_since_rebase() * 1000.0
    if timestamp >= now + 1000.0 * scale + slack_ms:
        raise BinanceError(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now - timestamp > float(window) * scale:
        raise BinanceError(-1021, "Timestamp for this request is outside of the recvWindow.")


def authenticate(params: Params, secret: str, payloads: Iterable[str], clock: SimClock) -> None:
    """timestamp, recvWindow and signature of a signed request (the API key is checked before)."""
    timestamp = params.integer("timestamp", mandatory=True)
    signature = params.mandatory("signature")
    window = recv_window(params)
    assert timestamp is not None
    check_timestamp(timestamp, window, clock)
    verify_signature(secret, payloads, signature)
