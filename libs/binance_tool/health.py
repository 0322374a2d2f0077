"""Liveness and readiness: a registry of named checks, served over HTTP (`/health`, `/ready`) for probes."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web


@dataclass
class Health:
    """`alive` turns false when a subsystem fails beyond repair (the probe then restarts the pod);
    `ready` turns true once start-up work (warm-up, reconciliation) is done."""

    alive: bool = True
    ready: bool = False
    details: dict[str, str] = field(default_factory=dict)

    def set_detail(self, name: str, value: str) -> None:
        self.details[name] = value

    def fail(self, reason: str) -> None:
        self.alive = False
        self.details["failure"] = reason

    def snapshot(self) -> dict[str, object]:
        return {"alive": self.alive, "ready": self.ready, "details": dict(self.details)}


class HealthServer:
    def __init__(self, health: Health, host: str = "0.0.0.0", port: int = 0) -> None:
        self.health = health
        self._host, self._port = host, port
        self._runner: web.AppRunner | None = None

    async def start(self) -> None:
        if self._port == 0:
            return
        app = web.Application()
        app.router.add_get("/health", self._health)
        app.router.add_get("/ready", self._ready)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self._host, self._port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _health(self, _req: web.Request) -> web.Response:
        return web.json_response(self.health.snapshot(), status=200 if self.health.alive else 503)

    async def _ready(self, _req: web.Request) -> web.Response:
        ok = self.health.alive and self.health.ready
        return web.json_response(self.health.snapshot(), status=200 if ok else 503)
