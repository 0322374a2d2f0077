"""Every message type on the bus, by (object_type, version), and how to decode a body."""

from __future__ import annotations

from typing import Any

import orjson
from pydantic import ValidationError

from binance_tool.events.account import (
    AccountBalancesUpdated,
    ExecutionReportReceived,
    PortfolioValued,
    PositionChanged,
)
from binance_tool.events.edge70 import Edge70CandleEvaluated, Edge70Signal
from binance_tool.events.envelope import Envelope
from binance_tool.events.market import CandleClosed
from binance_tool.events.notifications import SendUserMessage
from binance_tool.events.performance import EdgePerformanceUpdated, PositionsPerformanceReported
from binance_tool.events.reconciliation import PositionMismatchFound, PositionsChecked
from binance_tool.events.trading import EntrySized, TradeResult

ALL_TYPES: tuple[type[Envelope], ...] = (
    CandleClosed,
    Edge70Signal,
    Edge70CandleEvaluated,
    SendUserMessage,
    EntrySized,
    TradeResult,
    ExecutionReportReceived,
    AccountBalancesUpdated,
    PositionChanged,
    PortfolioValued,
    PositionMismatchFound,
    PositionsChecked,
    PositionsPerformanceReported,
    EdgePerformanceUpdated,
)


def _key(cls: type[Envelope]) -> tuple[str, int]:
    fields = cls.model_fields
    return (str(fields["object_type"].default), int(fields["version"].default))


REGISTRY: dict[tuple[str, int], type[Envelope]] = {_key(c): c for c in ALL_TYPES}


class MalformedMessage(ValueError):
    """A body that is not a known, valid message.  The consumer dead-letters it with this reason."""


def decode(body: bytes, expected: tuple[type[Envelope], ...] | None = None) -> Envelope:
    try:
        head: Any = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise MalformedMessage(f"body is not JSON: {exc}") from None
    if not isinstance(head, dict):
        raise MalformedMessage("body is not a JSON object")
    object_type, version = head.get("object_type"), head.get("version")
    if not isinstance(object_type, str) or not isinstance(version, int):
        raise MalformedMessage("missing object_type or version")
    cls = REGISTRY.get((object_type, version))
    if cls is None:
        raise MalformedMessage(f"unknown message type {object_type} v{version}")
    if expected is not None and cls not in expected:
        raise MalformedMessage(
            f"unexpected message type {object_type} v{version} (expected {', '.join(c.__name__ for c in expected)})"
        )
    try:
        return cls.model_validate_json(body)
    except ValidationError as exc:
        errors = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise MalformedMessage(f"invalid {object_type} v{version}: {errors}") from None
