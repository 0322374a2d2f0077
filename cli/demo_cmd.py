"""`binance-tool demo`: the whole cluster on the local simulator, with live progress in the terminal."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path

import httpx
import typer
from rich.console import Console
from rich.live import Live

from binance_tool.bus.amqp import AmqpBus
from binance_tool.config import BusSettings
from binance_tool.state.idempotency import InMemoryIdempotencyStore
from cli.cluster import ClusterConfig, LocalCluster, ProcessSpec, cluster_specs
from cli.resets import reset_bus_and_state
from services.demo_monitor.monitor import Monitor
from services.demo_monitor.subscriptions import DEMO_MONITOR

console = Console()


def _log_to_file(path: Path) -> None:
    """The terminal shows the live view; this process's own logs go to a file."""
    import structlog

    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(default=str),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.INFO),
        logger_factory=structlog.WriteLoggerFactory(file=path.open("a")),
    )


DEMO_AMQP = "amqp://guest:guest@127.0.0.1:5672/bt-demo"
DEMO_REDIS = "redis://127.0.0.1:6379/1"


def demo(
    start: str = typer.Option("2019-01-01", help="simulated start date (UTC)"),
    end: str | None = typer.Option(None, help="simulated end date (default: end of the data)"),
    days_per_second: float = typer.Option(4.0, "--days-per-second", min=0.01, help="replay speed"),
    symbols: str = typer.Option("", help="comma list of symbols (default: every market with data)"),
    data_dir: Path = typer.Option(Path("../shared/data/binance-spot"), help="shared candle data directory"),
    amqp_url: str = typer.Option(DEMO_AMQP, envvar="DEMO_AMQP_URL"),
    redis_url: str = typer.Option(DEMO_REDIS, envvar="DEMO_REDIS_URL", help="its database is flushed at start"),
    log_dir: Path = typer.Option(Path("var/demo/logs")),
) -> None:
    """Start the simulator, two candle-ingestion replicas and edge70-signals as separate processes."""
    if not data_dir.is_dir():
        console.print(f"[red]error:[/red] data directory {data_dir} not found (set --data-dir)")
        raise typer.Exit(2)
    cfg = ClusterConfig(
        amqp_url=amqp_url,
        redis_url=redis_url,
        data_dir=str(data_dir.resolve()),
        start=start,
        end=end,
        speed=days_per_second * 86_400,
        symbols=symbols,
    )
    signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM stops the cluster like Ctrl-C
    started: list[LocalCluster] = []
    try:
        asyncio.run(_run(cfg, log_dir, started))
    except KeyboardInterrupt:
        console.print("stopping")
    finally:
        for cluster in started:  # whatever happened above, no process is left behind
            cluster.stop()


def _write_cluster_env(path: Path, specs: list[ProcessSpec], sim_url: str) -> None:
    """How `binance-tool portfolio` / `positions` / `check-positions` / `performance` reach this cluster (the TAS
    operator token: owner-only file)."""
    lines = ["EXCHANGE=simulator", f"SIMULATOR_URL={sim_url}"]
    redis_url = next((s.env["REDIS_URL"] for s in specs if "REDIS_URL" in s.env), None)
    if redis_url is not None:
        lines.append(f"REDIS_URL={redis_url}")
    tas = next((s for s in specs if s.name == "trade-abstraction"), None)
    if tas is not None:
        tokens = dict(item.split("=", 1) for item in tas.env["TAS_TOKENS"].split(","))
        lines += [f"TAS_URL=http://127.0.0.1:{tas.health_port}", f"TAS_TOKEN={tokens['operator']}"]
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)


async def _run(cfg: ClusterConfig, log_dir: Path, started: list[LocalCluster]) -> None:
    log_dir.mkdir(parents=True, exist_ok=True)
    _log_to_file(log_dir / "demo-monitor.log")
    console.print("[bold]resetting demo state[/bold] (Redis database and demo queues)")
    await reset_bus_and_state(cfg.amqp_url, cfg.redis_url)
    specs, sim_url = cluster_specs(cfg)
    cluster = LocalCluster(specs, log_dir)
    started.append(cluster)
    monitor = Monitor()
    bus = AmqpBus(BusSettings(amqp_url=cfg.amqp_url), InMemoryIdempotencyStore(), "demo-monitor")
    await bus.connect()
    await bus.declare([DEMO_MONITOR])
    consumer = await bus.consume(DEMO_MONITOR, monitor.handle)
    console.print(f"starting {len(specs)} processes; logs in {log_dir}/")
    _write_cluster_env(log_dir.parent / "cluster.env", specs, sim_url)
    cluster.start()
    status: dict[str, object] = {}
    try:
        await asyncio.to_thread(cluster.wait_http, f"{sim_url}/api/v3/ping", 60.0, "exchange-simulator")
        for spec in specs[1:]:
            await asyncio.to_thread(cluster.wait_ready, spec.name, 300.0)
        async with httpx.AsyncClient(timeout=2) as http:
            with Live(monitor.render(status, cluster.status()), console=console, refresh_per_second=4) as live:
                idle_since: float | None = None
                while True:
                    with contextlib.suppress(httpx.HTTPError):
                        status = (await http.get(f"{sim_url}/sim/status")).json()
                    live.update(monitor.render(status, cluster.status()))
                    if cluster.failed():
                        console.print(f"[red]process(es) stopped:[/red] {', '.join(cluster.failed())} — see {log_dir}")
                        break
                    if status.get("finished"):
                        loop_now = asyncio.get_running_loop().time()
                        idle_since = idle_since or loop_now
                        if loop_now - idle_since > 5:
                            console.print("[green]replay finished[/green]")
                            break
                    await asyncio.sleep(0.25)
    except (KeyboardInterrupt, asyncio.CancelledError):
        console.print("stopping (Ctrl-C)")
    finally:
        await asyncio.to_thread(cluster.stop)
        await consumer.stop()
        await bus.close()
        console.print("while it runs: [bold]binance-tool portfolio[/bold] / [bold]binance-tool positions[/bold]")
        console.print(
            f"stopped. candles {monitor.candles}, evaluations {monitor.evaluations}, "
            f"signals {sum(monitor.signal_count.values())}, user messages {monitor.message_count}"
        )
