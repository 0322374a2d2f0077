"""The one envelope every event and command on the bus carries.

Events are frozen, strict, versioned pydantic models.  `event_id` is the dedup key (it becomes the AMQP
`message_id`), `correlation_id` follows a chain of causes (candle → signal → sizing → order → fills → position).
Money and quantities are `Decimal` and serialise as JSON strings.
"""

from __future__ import annotations

import uuid
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field

# Deterministic ids: the same fact (a candle, a signal) always gets the same event id, so two replicas that
# observe it publish the same message_id and downstream dedup drops the second.
NAMESPACE = uuid.UUID("5f0c1f5e-8c7e-4c5b-9a57-2b1e1b7f0a70")


def deterministic_id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(NAMESPACE, "|".join(str(p) for p in parts))


class Envelope(BaseModel):
    """Base of every message.  Subclasses set `object_type` and `version` as Literal fields."""

    model_config = ConfigDict(frozen=True, strict=True, extra="forbid")

    # Routing, filled per class: exchange name and routing key template (formatted with the model's fields).
    EXCHANGE: ClassVar[str]
    ROUTING_KEY: ClassVar[str]
    DESCRIPTION: ClassVar[str] = ""

    event_id: uuid.UUID
    correlation_id: uuid.UUID
    ts_event_ms: int = Field(ge=0, description="market/exchange time of the fact, UTC ms")
    ts_init_ms: int = Field(ge=0, description="when this message was created, UTC ms")

    def routing_key(self) -> str:
        return self.ROUTING_KEY.format(**self._routing_fields())

    def _routing_fields(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in type(self).model_fields}

    def to_json(self) -> bytes:
        return self.model_dump_json().encode()
