"""Setting groups that services compose.  Every variable is listed, with a comment, in `dot-env-template`.

A bad or missing setting fails at start-up with `SettingsError`, whose message names the variable.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypeVar

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

COMMON = SettingsConfigDict(
    env_file=".env", env_file_encoding="utf-8", extra="ignore", case_sensitive=False, env_ignore_empty=True
)


class SettingsError(SystemExit):
    """Raised (as a clean exit with status 2) when settings are invalid; the message names each variable."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ObservabilitySettings(BaseSettings):
    model_config = COMMON

    log_level: str = Field(default="INFO", pattern=r"^(DEBUG|INFO|WARNING|ERROR|CRITICAL)$")
    log_format: str = Field(default="json", pattern=r"^(json|console)$")
    sentry_dsn: SecretStr | None = None
    sentry_environment: str = "local"
    dd_agent_host: str | None = None
    dd_dogstatsd_port: int = Field(default=8125, ge=1, le=65535)
    dd_env: str = "local"
    health_port: int = Field(default=0, ge=0, le=65535, description="0 = no HTTP health endpoint")


class BusSettings(BaseSettings):
    model_config = COMMON

    amqp_url: SecretStr = SecretStr("amqp://guest:guest@127.0.0.1:5672/")
    amqp_prefetch: int = Field(default=50, ge=1, le=10_000)
    amqp_delivery_limit: int = Field(default=5, ge=1, le=1000)

    @field_validator("amqp_url")
    @classmethod
    def _amqp_scheme(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith(("amqp://", "amqps://")):
            raise ValueError("must start with amqp:// or amqps://")
        return v


class RedisSettings(BaseSettings):
    model_config = COMMON

    redis_url: SecretStr = SecretStr("redis://127.0.0.1:6379/0")

    @field_validator("redis_url")
    @classmethod
    def _redis_scheme(cls, v: SecretStr) -> SecretStr:
        if not v.get_secret_value().startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return v


class ExchangeKind(StrEnum):
    SIMULATOR = "simulator"
    BINANCE_TESTNET = "binance-testnet"
    BINANCE = "binance"


# The exchange simulator's public development credentials (`SIM_API_KEY` / `SIM_API_SECRET` defaults): used when
# EXCHANGE=simulator and no BINANCE_API_KEY is set, so a local cluster trades out of the box.  Never real keys.
SIMULATOR_DEV_API_KEY = "SimulatorDevApiKey0000000000000000000000000000000000000000000000"
SIMULATOR_DEV_API_SECRET = "SimulatorDevApiSecret0000000000000000000000000000000000000000000"


class ExchangeSettings(BaseSettings):
    """Which exchange the services talk to: the local simulator (default), Binance's spot testnet or Binance."""

    model_config = COMMON

    exchange: ExchangeKind = ExchangeKind.SIMULATOR
    simulator_url: str = "http://127.0.0.1:9400"
    binance_api_key: SecretStr | None = None
    binance_api_secret: SecretStr | None = None
    binance_request_timeout_s: float = Field(default=10.0, gt=0)

    @field_validator("simulator_url")
    @classmethod
    def _http(cls, v: str) -> str:
        if not v.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return v.rstrip("/")

    @property
    def credentials(self) -> tuple[str, str] | None:
        """(api key, secret) to sign with; the simulator's dev pair when talking to the simulator without keys."""
        if self.binance_api_key and self.binance_api_secret:
            return self.binance_api_key.get_secret_value(), self.binance_api_secret.get_secret_value()
        if self.exchange is ExchangeKind.SIMULATOR:
            return SIMULATOR_DEV_API_KEY, SIMULATOR_DEV_API_SECRET
        return None

    @property
    def rest_api_url(self) -> str:
        """The value for python-binance's `AsyncClient.API_URL`."""
        if self.exchange is ExchangeKind.SIMULATOR:
            return f"{self.simulator_url}/api"
        if self.exchange is ExchangeKind.BINANCE_TESTNET:
            return "https://testnet.binance.vision/api"
        return "https://api.binance.com/api"

    @property
    def stream_url(self) -> str:
        """The value for python-binance's `BinanceSocketManager.STREAM_URL` (ends with a slash)."""
        if self.exchange is ExchangeKind.SIMULATOR:
            return self.simulator_url.replace("http", "ws", 1) + "/"
        if self.exchange is ExchangeKind.BINANCE_TESTNET:
            return "wss://stream.testnet.binance.vision/"
        return "wss://stream.binance.com:9443/"

    @property
    def ws_api_url(self) -> str:
        if self.exchange is ExchangeKind.SIMULATOR:
            return self.simulator_url.replace("http", "ws", 1) + "/ws-api/v3"
        if self.exchange is ExchangeKind.BINANCE_TESTNET:
            return "wss://ws-api.testnet.binance.vision/ws-api/v3"
        return "wss://ws-api.binance.com:443/ws-api/v3"


S = TypeVar("S", bound=BaseSettings)


def load_settings(cls: type[S], **overrides: Any) -> S:
    """Build settings from env/.env (+ overrides); on failure raise SettingsError naming each variable."""
    try:
        return cls(**overrides)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            name = str(err["loc"][0]).upper() if err["loc"] else "?"
            problems.append(f"{name}: {err['msg']}")
        raise SettingsError("invalid settings — " + "; ".join(problems)) from None
