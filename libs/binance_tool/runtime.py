"""Running a service process: settings → logging → build → run until SIGTERM/SIGINT → dispose."""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import structlog
from pydantic_settings import BaseSettings

from binance_tool.config import ObservabilitySettings, SettingsError, load_settings
from binance_tool.observability import configure_logging

S = TypeVar("S", bound=BaseSettings)


def _event_loop_runner() -> Callable[[Coroutine[Any, Any, None]], None]:
    """uvloop (libuv) when installed — it ships with uvicorn[standard] — else asyncio's own loop."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run
    return uvloop.run


def run_service(name: str, settings_cls: type[S], main: Callable[[S, asyncio.Event], Awaitable[None]]) -> None:
    """Entry point body of every service.  Invalid settings → message naming the variable, exit status 2."""
    try:
        settings = load_settings(settings_cls)
    except SettingsError as exc:
        print(f"{name}: {exc.message}", file=sys.stderr)
        raise SystemExit(2) from None
    obs = settings if isinstance(settings, ObservabilitySettings) else ObservabilitySettings()
    log = configure_logging(name, obs)

    async def _amain() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        log.info("service_starting")
        try:
            await main(settings, stop)
        finally:
            log.info("service_stopped")

    try:
        _event_loop_runner()(_amain())
    except KeyboardInterrupt:
        pass
    except Exception as exc:
        structlog.get_logger().exception("service_crashed", error=repr(exc))
        raise SystemExit(1) from None
