"""The "reply lost" fault: an order request is executed (the order IS placed or canceled, its events are
published) but its HTTP reply never reaches the client.  `SimulatorApp` is the app's outermost ASGI layer: for a
request the fault middleware flagged, it swallows the response and then either holds the connection without
answering until the client gives up (mode `hold`, at most `reply_lost_hold_s`) or closes it at once (`close`).

Closing without a response needs the server's transport: under uvicorn it is reached through the `send` callable
(its request cycle); elsewhere the connection is held until the client leaves."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from fastapi import FastAPI
from starlette.types import Message, Receive, Scope, Send

from services.exchange_simulator.faults import Faults, is_order_request
from services.exchange_simulator.rest import REPLY_LOST


class SimulatorApp(FastAPI):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        faults: Faults | None = getattr(getattr(self.state, "sim", None), "faults", None)
        if (
            scope["type"] != "http"
            or faults is None
            or faults.reply_lost_next <= 0
            or not is_order_request(scope["method"], scope["path"])
        ):
            await super().__call__(scope, receive, send)
            return
        captured: list[Message] = []

        async def capture(message: Message) -> None:
            captured.append(message)

        await super().__call__(scope, receive, capture)
        if not scope.get(REPLY_LOST):
            for message in captured:
                await send(message)
            return
        await lose_reply(receive, send, faults.reply_lost_mode, faults.reply_lost_hold_s)


async def _until_disconnect(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def lose_reply(receive: Receive, send: Send, mode: str, hold_s: float) -> None:
    cycle: Any = getattr(send, "__self__", None)  # uvicorn's RequestResponseCycle
    transport = getattr(cycle, "transport", None)
    if mode == "hold" or transport is None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(_until_disconnect(receive), None if transport is None else hold_s)
    if transport is not None and not getattr(cycle, "disconnected", True):
        transport.close()
        for _ in range(50):  # let the server see the connection lost, so it does not answer 500 itself
            if getattr(cycle, "disconnected", True):
                break
            await asyncio.sleep(0.01)
