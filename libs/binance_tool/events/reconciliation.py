"""Events of the position checker (positions vs the exchange's balances and open orders).

Both travel on `bt.positions` next to `PositionChanged` (routing keys `reconciliation.…`, so a `position.#` binding
does not see them).  Ids are deterministic:
- a mismatch: (account, check id, kind, asset, edge) — a check reports each mismatch once;
- a check summary: (account, check id).
The check id is itself a function of the account and the time the check started.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import ClassVar, Literal

from pydantic import Field

from binance_tool.events.envelope import Envelope, deterministic_id

MismatchKindName = Literal[
    "position_without_stop", "balance_without_position", "position_without_balance", "stop_quantity_mismatch"
]


def check_id_for(account: str, started_ms: int) -> uuid.UUID:
    return deterministic_id("PositionsCheck", account, started_ms)


class PositionMismatchFound(Envelope):
    """One confirmed mismatch between the tracked positions and the exchange (position checker)."""

    EXCHANGE: ClassVar[str] = "bt.positions"
    ROUTING_KEY: ClassVar[str] = "reconciliation.mismatch.{kind}.{asset}"
    DESCRIPTION: ClassVar[str] = (
        "A position without stop, a balance without position, a position without balance, or a stop quantity "
        "different from the position, still there at the re-check (position checker)."
    )

    object_type: Literal["PositionMismatchFound"] = "PositionMismatchFound"
    version: Literal[1] = 1
    account: str = "default"
    check_id: uuid.UUID
    kind: MismatchKindName
    asset: str
    symbol: str
    edge: str | None
    quote_asset: str
    expected: Decimal
    actual: Decimal
    difference: Decimal  # actual - expected
    value_quote: Decimal | None  # |difference| in the quote asset (None: no price)
    first_seen_ms: int = Field(ge=0, description="the check that first found it (this process), UTC ms")
    text: str = Field(min_length=1, max_length=2000)

    @staticmethod
    def id_for(account: str, check_id: uuid.UUID, kind: str, asset: str, edge: str | None) -> uuid.UUID:
        return deterministic_id("PositionMismatchFound", account, check_id, kind, asset, edge or "-")


class PositionsChecked(Envelope):
    """The summary of one check of the positions against the exchange (position checker)."""

    EXCHANGE: ClassVar[str] = "bt.positions"
    ROUTING_KEY: ClassVar[str] = "reconciliation.checked.{account}"
    DESCRIPTION: ClassVar[str] = "A check of positions vs exchange balances and open orders: counts and kinds."

    object_type: Literal["PositionsChecked"] = "PositionsChecked"
    version: Literal[1] = 1
    account: str = "default"
    check_id: uuid.UUID
    started_ms: int = Field(ge=0)
    finished_ms: int = Field(ge=0)
    positions: int = Field(ge=0, description="open positions compared")
    balances_compared: int = Field(ge=0, description="base assets whose balance was compared")
    mismatch_count: int = Field(ge=0, description="confirmed mismatches")
    kinds: tuple[MismatchKindName, ...] = ()  # the distinct kinds found, sorted
    unconfirmed: int = Field(default=0, ge=0, description="mismatches gone at the re-check (transient)")

    @staticmethod
    def id_for(account: str, check_id: uuid.UUID) -> uuid.UUID:
        return deterministic_id("PositionsChecked", account, check_id)
