"""structlog JSON logging with secret redaction, optional Sentry and Datadog, and health/readiness state."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from binance_tool.config import ObservabilitySettings

_SECRET_KEYS = re.compile(r"(secret|password|passwd|token|api[_-]?key|signature|dsn|authorization)", re.I)
_URL_CREDENTIALS = re.compile(r"(?P<scheme>[a-z][a-z0-9+.-]*://)(?P<user>[^:/@\s]+):(?P<pw>[^@\s]+)@", re.I)
REDACTED = "***"


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return _URL_CREDENTIALS.sub(lambda m: f"{m['scheme']}{m['user']}:{REDACTED}@", value)
    if isinstance(value, dict):
        return {k: (REDACTED if _SECRET_KEYS.search(str(k)) else redact_value(v)) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: mask values of secret-looking keys and credentials inside URLs."""
    for key in list(event_dict):
        if _SECRET_KEYS.search(key):
            event_dict[key] = REDACTED
        else:
            event_dict[key] = redact_value(event_dict[key])
    return event_dict


def configure_logging(service: str, settings: ObservabilitySettings | None = None) -> structlog.stdlib.BoundLogger:
    """JSON to stdout, one event per line, bound to `service`.  Also routes stdlib logging through it."""
    settings = settings or ObservabilitySettings()
    level = getattr(logging, settings.log_level)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
        structlog.processors.format_exc_info,
        redact_secrets,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(default=str)
        if settings.log_format == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stdout),
        cache_logger_on_first_use=False,
    )
    # Third-party libraries log through stdlib logging: send WARNING+ through the same JSON pipeline.
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[structlog.stdlib.add_logger_name, *shared],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(max(level, logging.WARNING))
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(service=service)
    _init_sentry(service, settings)
    _init_datadog(service, settings)
    log: structlog.stdlib.BoundLogger = structlog.get_logger()
    return log


def _init_sentry(service: str, settings: ObservabilitySettings) -> None:
    if settings.sentry_dsn is None:
        return
    import sentry_sdk

    sentry_sdk.init(
        dsn=settings.sentry_dsn.get_secret_value(),
        environment=settings.sentry_environment,
        server_name=service,
        send_default_pii=False,
    )
    sentry_sdk.set_tag("service", service)


class Metrics:
    """DogStatsD metrics; a no-op unless DD_AGENT_HOST is set."""

    def __init__(self) -> None:
        self._statsd: Any = None
        self._tags: list[str] = []

    def configure(self, service: str, settings: ObservabilitySettings) -> None:
        if not settings.dd_agent_host:
            return
        from datadog.dogstatsd.base import DogStatsd

        self._statsd = DogStatsd(host=settings.dd_agent_host, port=settings.dd_dogstatsd_port)
        self._tags = [f"service:{service}", f"env:{settings.dd_env}"]

    @property
    def enabled(self) -> bool:
        return self._statsd is not None

    def increment(self, name: str, value: int = 1, tags: dict[str, str] | None = None) -> None:
        if self._statsd is not None:
            self._statsd.increment(name, value, tags=self._tags + [f"{k}:{v}" for k, v in (tags or {}).items()])

    def histogram(self, name: str, value: float, tags: dict[str, str] | None = None) -> None:
        if self._statsd is not None:
            self._statsd.histogram(name, value, tags=self._tags + [f"{k}:{v}" for k, v in (tags or {}).items()])

    def event(self, title: str, text: str, alert_type: str = "info", tags: dict[str, str] | None = None) -> None:
        if self._statsd is not None:
            self._statsd.event(
                title, text, alert_type=alert_type, tags=self._tags + [f"{k}:{v}" for k, v in (tags or {}).items()]
            )


metrics = Metrics()


def _init_datadog(service: str, settings: ObservabilitySettings) -> None:
    metrics.configure(service, settings)
