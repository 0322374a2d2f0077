"""User data stream fan-out: the WebSocket-API connections, their subscriptions, and the delivery of account
events as `{"subscriptionId": N, "event": {...}}` to each subscription (one simulated account: every subscription
gets every event).  Subscription ids are unique across connections (Binance numbers them per session; unique ids
are a valid numbering and keep a client that reconnects from mixing up an old and a new subscription)."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog

log = structlog.get_logger(__name__)

DROP = object()  # queue sentinel: close the connection now (fault injection)
OVERFLOW = object()  # queue sentinel: the client does not keep up


@dataclass(eq=False)
class ApiConnection:
    id: int
    queue: asyncio.Queue[object]
    connected_since: int
    subscriptions: dict[int, str] = field(default_factory=dict)  # subscriptionId -> "signature" | "logon"
    logon_key: str | None = None
    authorized_since: int | None = None
    events_sent: int = 0
    closed: bool = False
    after_reply: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # sent after the current response

    def info(self) -> dict[str, object]:
        return {
            "id": self.id,
            "subscriptions": sorted(self.subscriptions),
            "loggedOn": self.logon_key is not None,
            "queued": self.queue.qsize(),
            "eventsSent": self.events_sent,
        }


class UserStreamHub:
    def __init__(self, queue_size: int) -> None:
        self.queue_size = queue_size
        self.connections: dict[int, ApiConnection] = {}
        self._ids = itertools.count(1)
        self._subscription_ids = itertools.count(0)
        self.events_published = 0

    def connect(self, now: int) -> ApiConnection:
        conn = ApiConnection(next(self._ids), asyncio.Queue(maxsize=self.queue_size), connected_since=now)
        self.connections[conn.id] = conn
        return conn

    def disconnect(self, conn: ApiConnection) -> None:
        conn.closed = True
        conn.subscriptions.clear()
        self.connections.pop(conn.id, None)

    @property
    def subscription_count(self) -> int:
        return sum(len(c.subscriptions) for c in self.connections.values())

    def subscribe(self, conn: ApiConnection, kind: str) -> int:
        sid = next(self._subscription_ids)
        conn.subscriptions[sid] = kind
        return sid

    def unsubscribe(self, conn: ApiConnection, ids: list[int], now: int) -> None:
        """End these subscriptions; each gets a final `eventStreamTerminated` (after the response to the request)."""
        for sid in ids:
            if conn.subscriptions.pop(sid, None) is not None:
                conn.after_reply.append((sid, {"e": "eventStreamTerminated", "E": now}))

    def publish(self, event: dict[str, Any]) -> None:
        self.events_published += 1
        for conn in list(self.connections.values()):
            for sid in list(conn.subscriptions):
                self._offer(conn, sid, event)

    def _offer(self, conn: ApiConnection, sid: int, event: dict[str, Any]) -> None:
        if conn.closed:
            return
        try:
            conn.queue.put_nowait((orjson.dumps({"subscriptionId": sid, "event": event}), True))
        except asyncio.QueueFull:
            log.warning("ws_api_slow_client_dropped", connection=conn.id)
            self.disconnect(conn)
            while not conn.queue.empty():
                conn.queue.get_nowait()
            conn.queue.put_nowait(OVERFLOW)

    def reply(self, conn: ApiConnection, response: dict[str, Any]) -> bool:
        """Queue a response; False if the connection is over its queue limit (it is then closed)."""
        try:
            conn.queue.put_nowait((orjson.dumps(response), False))
        except asyncio.QueueFull:
            return False
        pending, conn.after_reply = conn.after_reply, []
        for sid, event in pending:
            self._offer(conn, sid, event)
        return not conn.closed

    def drop_all(self) -> int:
        """Close every WebSocket-API connection now (their subscriptions end with them)."""
        conns = list(self.connections.values())
        for conn in conns:
            self.disconnect(conn)
            while not conn.queue.empty():
                conn.queue.get_nowait()
            conn.queue.put_nowait(DROP)
        return len(conns)

    def status(self) -> dict[str, object]:
        return {
            "eventsPublished": self.events_published,
            "connections": [c.info() for c in self.connections.values()],
        }
