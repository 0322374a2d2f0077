"""What the position-tracker keeps per position: a small *head* (the symbol's filters and the folded `Position`,
updated in O(1) per in-order fill) and, apart from it, every fill and the `PositionChanged` each caused, by trade id.

The head always equals `position_from_fills` of the stored fills: an in-order fill is folded with one step
(`fold_fill`), a late one refolds the whole set (`position_from_fills`) — the same Decimal operations in the same
order, so the stored position is exactly what the domain computes from the set of fills, whatever their order.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from binance_tool.events import PositionChanged
from binance_tool.tracking import Position, PositionFill, PositionKey, empty_position
from binance_tool.trading.filters import SymbolFilters
from services.trackers import codec


@dataclass(frozen=True)
class PositionHead:
    """The O(1) part of a position's state (`positions:<account>:<base>:<edge|->`)."""

    account: str
    base_asset: str
    edge: str | None
    filters: SymbolFilters  # of the symbol (base + quote asset) when the position was first seen
    position: Position
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # commission-asset prices given to a refold

    @classmethod
    def new(cls, key: PositionKey, filters: SymbolFilters) -> PositionHead:
        return cls(key.account, key.base_asset, key.edge, filters, empty_position(filters, key.edge))

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.account, self.base_asset, self.edge)

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "account": self.account,
            "base_asset": self.base_asset,
            "edge": self.edge,
            "filters": codec.filters_to_dict(self.filters),
            "prices": codec.decimals_to_dict(dict(self.prices)),
            "position": codec.position_to_dict(self.position),
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> PositionHead:
        d = json.loads(raw)
        return cls(
            account=d["account"],
            base_asset=d["base_asset"],
            edge=d["edge"],
            filters=codec.filters_from_dict(d["filters"]),
            position=codec.position_from_dict(d["position"]),
            prices=codec.decimals_from_dict(d["prices"]),
        )


def fill_to_json(fill: PositionFill) -> str:
    return json.dumps(codec.position_fill_to_dict(fill), separators=(",", ":"))


def fill_from_json(raw: str | bytes) -> PositionFill:
    return codec.position_fill_from_dict(json.loads(raw))


@dataclass(frozen=True)
class PositionRecord:
    """A position as read back: its head, and (unless asked without) its fills and the events they caused."""

    head: PositionHead
    fills: Mapping[int, PositionFill] = field(default_factory=dict)
    events: Mapping[int, str] = field(default_factory=dict)  # trade id → PositionChanged JSON it caused

    @property
    def key(self) -> PositionKey:
        return self.head.key

    @property
    def account(self) -> str:
        return self.head.account

    @property
    def base_asset(self) -> str:
        return self.head.base_asset

    @property
    def edge(self) -> str | None:
        return self.head.edge

    @property
    def filters(self) -> SymbolFilters:
        return self.head.filters

    @property
    def position(self) -> Position:
        return self.head.position

    def event(self, trade_id: int) -> PositionChanged | None:
        raw = self.events.get(trade_id)
        return None if raw is None else PositionChanged.model_validate_json(raw)
