"""What the position-tracker keeps per position: its fills (the source of truth) and the events they caused.

The position itself is never stored: it is recomputed from the fills with the pure `position_from_fills`, so what
is read back is always exactly what the domain computes from the set of fills (no drift, no migration).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from types import MappingProxyType
from typing import Any

from binance_tool.events import PositionChanged
from binance_tool.tracking import Position, PositionFill, PositionKey, PositionState, position_from_fills
from binance_tool.trading.filters import SymbolFilters
from services.trackers import codec


@dataclass(frozen=True)
class PositionRecord:
    account: str
    base_asset: str
    edge: str | None
    filters: SymbolFilters  # of the symbol (base + quote asset) when the position was first seen
    prices: Mapping[str, Decimal] = field(default_factory=dict)  # commission-asset prices given to the fold
    fills: Mapping[int, PositionFill] = field(default_factory=dict)
    events: Mapping[int, str] = field(default_factory=dict)  # trade id → PositionChanged JSON it caused

    @property
    def key(self) -> PositionKey:
        return PositionKey(self.account, self.base_asset, self.edge)

    def state(self) -> PositionState:
        position = position_from_fills(self.fills.values(), self.filters, self.prices, edge=self.edge)
        return PositionState(
            self.filters, MappingProxyType(dict(self.prices)), MappingProxyType(dict(self.fills)), position
        )

    @property
    def position(self) -> Position:
        return self.state().position

    def event(self, trade_id: int) -> PositionChanged | None:
        raw = self.events.get(trade_id)
        return None if raw is None else PositionChanged.model_validate_json(raw)

    def with_fill(self, fill: PositionFill, event: PositionChanged | None) -> PositionRecord:
        events = dict(self.events)
        if event is not None:
            events[fill.trade_id] = event.model_dump_json()
        return replace(self, fills={**self.fills, fill.trade_id: fill}, events=events)

    def to_json(self) -> str:
        body: dict[str, Any] = {
            "account": self.account,
            "base_asset": self.base_asset,
            "edge": self.edge,
            "filters": codec.filters_to_dict(self.filters),
            "prices": codec.decimals_to_dict(dict(self.prices)),
            "fills": [codec.position_fill_to_dict(self.fills[t]) for t in sorted(self.fills)],
            "events": {str(t): self.events[t] for t in sorted(self.events)},
        }
        return json.dumps(body, separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> PositionRecord:
        d = json.loads(raw)
        fills = [codec.position_fill_from_dict(f) for f in d["fills"]]
        return cls(
            account=d["account"],
            base_asset=d["base_asset"],
            edge=d["edge"],
            filters=codec.filters_from_dict(d["filters"]),
            prices=codec.decimals_from_dict(d["prices"]),
            fills={f.trade_id: f for f in fills},
            events={int(t): e for t, e in d["events"].items()},
        )
