"""A local cluster: the simulator and the services as separate OS processes on loopback.

Used by `binance-tool demo` and by the end-to-end tests, so both run exactly the same processes.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ProcessSpec:
    name: str
    command: list[str]
    env: dict[str, str]
    health_port: int = 0


@dataclass
class LocalCluster:
    """Start, watch and stop the cluster's processes; logs go to `log_dir/<name>.log`."""

    specs: list[ProcessSpec]
    log_dir: Path
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def start(self) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        for spec in self.specs:
            self.start_one(spec)

    def start_one(self, spec: ProcessSpec) -> None:
        log = open(self.log_dir / f"{spec.name}.log", "ab")  # noqa: SIM115 (owned by the child)
        env = {**os.environ, **spec.env}
        self.procs[spec.name] = subprocess.Popen(
            spec.command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )

    def spec(self, name: str) -> ProcessSpec:
        return next(s for s in self.specs if s.name == name)

    def status(self) -> dict[str, str]:
        out = {}
        for name, p in self.procs.items():
            code = p.poll()
            out[name] = "running" if code is None else f"exited {code}"
        return out

    def failed(self) -> list[str]:
        return [n for n, s in self.status().items() if s != "running"]

    def kill(self, name: str, sig: int = signal.SIGKILL) -> None:
        p = self.procs[name]
        if p.poll() is None:
            os.killpg(p.pid, sig)
            p.wait(timeout=10)

    def stop(self, timeout_s: float = 15.0) -> None:
        """SIGTERM in reverse start order (consumers before the exchange they read), SIGKILL after the timeout."""
        for p in reversed(list(self.procs.values())):
            if p.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGTERM)
                try:
                    p.wait(timeout=timeout_s)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait(timeout=5)

    def wait_http(self, url: str, timeout_s: float = 60.0, name: str = "") -> None:
        deadline = time.monotonic() + timeout_s
        last = ""
        while time.monotonic() < deadline:
            if name and self.procs[name].poll() is not None:
                raise RuntimeError(f"{name} exited with {self.procs[name].returncode}; see {self.log_dir}/{name}.log")
            try:
                r = httpx.get(url, timeout=2)
                if r.status_code == 200:
                    return
                last = f"HTTP {r.status_code}"
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{url} not ready after {timeout_s}s ({last}); see {self.log_dir}")

    def wait_ready(self, name: str, timeout_s: float = 120.0) -> None:
        spec = self.spec(name)
        self.wait_http(f"http://127.0.0.1:{spec.health_port}/ready", timeout_s, name)


@dataclass(frozen=True)
class ClusterConfig:
    amqp_url: str = "amqp://guest:guest@127.0.0.1:5672/"
    redis_url: str = "redis://127.0.0.1:6379/1"
    data_dir: str = "../shared/data/binance-spot"
    start: str = "2019-01-01"
    end: str | None = None
    speed: float = 4 * 86_400.0
    symbols: str = ""
    ingestion_replicas: int = 2
    log_level: str = "INFO"
    trading: bool = True  # position-sizer + trade-abstraction: signals become orders on the simulator
    initial_usdt: str = "10000"
    extra_env: tuple[tuple[str, str], ...] = ()


def cluster_specs(cfg: ClusterConfig, sim_port: int | None = None) -> tuple[list[ProcessSpec], str]:
    """The cluster's processes: simulator, N ingestion replicas, edge70-signals, and (with `trading`) the
    trade-abstraction service and the position-sizer trading on the simulator's account."""
    sim_port = sim_port or free_port()
    sim_url = f"http://127.0.0.1:{sim_port}"
    common = {
        "AMQP_URL": cfg.amqp_url,
        "REDIS_URL": cfg.redis_url,
        "EXCHANGE": "simulator",
        "SIMULATOR_URL": sim_url,
        "LOG_LEVEL": cfg.log_level,
        "LOG_FORMAT": "json",
        **dict(cfg.extra_env),
    }
    sim_env = {
        "SIM_HOST": "127.0.0.1",
        "SIM_PORT": str(sim_port),
        "SIM_DATA_DIR": cfg.data_dir,
        "SIM_START": cfg.start,
        "SIM_SPEED": str(cfg.speed),
        "SIM_SYMBOLS": cfg.symbols,
        "SIM_BALANCES": f"USDT={cfg.initial_usdt}",
        "LOG_LEVEL": cfg.log_level,
        **dict(cfg.extra_env),
    }
    if cfg.end:
        sim_env["SIM_END"] = cfg.end
    specs = [ProcessSpec("exchange-simulator", [str(BIN / "bt-exchange-simulator")], sim_env)]
    for i in range(cfg.ingestion_replicas):
        port = free_port()
        specs.append(
            ProcessSpec(
                f"candle-ingestion-{chr(ord('a') + i)}",
                [str(BIN / "bt-candle-ingestion")],
                {
                    **common,
                    "HEALTH_PORT": str(port),
                    "INGESTION_SYMBOLS": cfg.symbols,
                    "INGESTION_REPLICA_ID": f"replica-{chr(ord('a') + i)}",
                },
                port,
            )
        )
    port = free_port()
    specs.append(
        ProcessSpec(
            "edge70-signals",
            [str(BIN / "bt-edge70-signals")],
            {**common, "HEALTH_PORT": str(port), "EDGE70_SYMBOLS": cfg.symbols},
            port,
        )
    )
    if cfg.trading:
        specs += trading_specs(common)
        symbols = cfg.symbols or ",".join(sorted(p.stem for p in Path(cfg.data_dir, "1d").glob("*.csv")))
        for replica in ("a", "b"):  # two replicas side by side: identical event ids, downstream keeps one
            port = free_port()
            env = {**common, "HEALTH_PORT": str(port), "ORDER_INGESTION_SYMBOLS": symbols,
                   "ORDER_INGESTION_REPLICA_ID": f"replica-{replica}"}  # fmt: skip
            specs.append(ProcessSpec(f"order-ingestion-{replica}", [str(BIN / "bt-order-ingestion")], env, port))
    return specs, sim_url


def trading_specs(common: dict[str, str]) -> list[ProcessSpec]:
    """trade-abstraction (its API port doubles as the readiness probe), trackers, position-checker, performance and
    position-sizer; the TAS and the sizer share a fresh token."""
    from services.exchange_simulator.settings import DEV_API_KEY, DEV_API_SECRET

    token, operator = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
    # a replayed day lasts well under a second: refresh and check in seconds, not in production's minutes
    # (the caller's extra_env, already in `common`, still wins)
    common = {
        "TRACKERS_PRICES_REFRESH_S": "5",
        "CHECKER_INTERVAL_S": "30",
        "CHECKER_CONFIRM_DELAY_S": "5",
        "PERFORMANCE_POSITIONS_INTERVAL_S": "60",
        **common,
    }
    keys = {"BINANCE_API_KEY": DEV_API_KEY, "BINANCE_API_SECRET": DEV_API_SECRET}
    tas_port, sizer_port, trackers_port = free_port(), free_port(), free_port()
    checker_port, performance_port = free_port(), free_port()
    return [
        ProcessSpec(
            "trade-abstraction",
            [str(BIN / "bt-trade-abstraction")],
            {
                **common,
                **keys,
                "TAS_HOST": "127.0.0.1",
                "TAS_PORT": str(tas_port),
                "TAS_TOKENS": f"sizer={token},operator={operator}",
            },
            tas_port,
        ),
        ProcessSpec(
            "trackers",
            [str(BIN / "bt-trackers")],
            {**common, **keys, "HEALTH_PORT": str(trackers_port)},
            trackers_port,
        ),
        ProcessSpec(
            "position-checker",
            [str(BIN / "bt-position-checker")],
            {**common, **keys, "HEALTH_PORT": str(checker_port)},
            checker_port,
        ),
        ProcessSpec(
            "performance",
            [str(BIN / "bt-performance")],
            {**common, **keys, "HEALTH_PORT": str(performance_port)},
            performance_port,
        ),
        ProcessSpec(
            "position-sizer",
            [str(BIN / "bt-position-sizer")],
            {
                **common,
                **keys,
                "HEALTH_PORT": str(sizer_port),
                "TAS_URL": f"http://127.0.0.1:{tas_port}",
                "TAS_TOKEN": token,
            },
            sizer_port,
        ),
    ]
