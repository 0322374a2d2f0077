"""Messages for the user (Telegram and friends): queued so a rate limit loses nothing."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar, Literal

from pydantic import Field

from binance_tool.events.envelope import Envelope


class Severity(StrEnum):
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class SendUserMessage(Envelope):
    """A command: deliver this text to the user.  `kind` lets a notifier route or filter."""

    EXCHANGE: ClassVar[str] = "bt.notifications"
    ROUTING_KEY: ClassVar[str] = "user-message.{kind}"
    DESCRIPTION: ClassVar[str] = "Text for the user, e.g. 'possible long signal on BTC — check manually'."

    object_type: Literal["SendUserMessage"] = "SendUserMessage"
    version: Literal[1] = 1
    service: str
    kind: str = Field(pattern=r"^[a-z0-9_.-]+$")
    severity: Severity = Severity.INFO
    text: str = Field(min_length=1, max_length=4000)
    tags: dict[str, str] = Field(default_factory=dict)
