"""What the kline streams and the WebSocket API share: reading a text frame, and running a connection's reader
and writer until either ends."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from fastapi import WebSocket


async def receive_text(websocket: WebSocket) -> str | None:
    """The next frame as text (binary frames decoded as UTF-8); None when the client disconnected."""
    message = await websocket.receive()
    if message["type"] == "websocket.disconnect":
        return None
    text = message.get("text")
    if text is None:
        text = (message.get("bytes") or b"").decode("utf-8", "replace")
    return str(text)


async def run_until_either_ends(reader: Coroutine[Any, Any, None], writer: Coroutine[Any, Any, None]) -> None:
    """Run both; when one returns (or fails), cancel the other and wait for both."""
    tasks = (asyncio.create_task(reader), asyncio.create_task(writer))
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
