"""Offline checks of the deployment artefacts: no Docker engine and no Kubernetes cluster are needed.

- docker-compose.yml is resolved by Debian's docker-compose v1 (`config`) and its services are inspected;
- the Dockerfile passes hadolint;
- the Helm chart is rendered by Helm's own engine (helm-python-sdk, Helm SDK v4) for several value sets and
  every manifest is validated against the Kubernetes OpenAPI schemas shipped with kubernetes-validate;
- the shell scripts pass shellcheck.

A missing tool is a failure, not a skip: run `scripts/check-deploy.sh --install` (as root) to install them.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "k8" / "charts" / "binance-tool"
SETUP_HINT = "run `scripts/check-deploy.sh --install` (as root) to install the deploy-check tools"

SHELL_SCRIPTS = [
    "run-docker-cluster.sh",
    "run-docker-tests.sh",
    "scripts/check-deploy.sh",
    "scripts/compose-lib.sh",
    "cli/port-forward-rabbitmq.sh",
    "cli/port-forward-redis.sh",
    "cli/port-forward-simulator.sh",
    "cli/redis-cli.sh",
]
APP_SERVICES = [
    "candle-ingestion-a",
    "candle-ingestion-b",
    "edge70-signals",
    "trackers",
    "position-checker",
    "performance",
]
SECRET_ENV = {"AMQP_URL", "REDIS_URL", "BINANCE_API_KEY", "BINANCE_API_SECRET", "SENTRY_DSN", "TAS_TOKENS", "TAS_TOKEN"}
# The chart's kubeVersion floor and the newest schema set kubernetes-validate ships.
KUBE_VERSIONS = ["1.27.0", "latest"]


def _tool(name: str) -> str:
    """Path of a command-line tool (PATH, then next to this interpreter, e.g. the venv); fail if absent."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    if not found:
        pytest.fail(f"`{name}` is not installed: {SETUP_HINT}", pytrace=False)
    return found


def _run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60, check=False, **kwargs)


# --------------------------------------------------------------------------------------------- compose


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """docker-compose.yml as docker-compose v1 resolves it, ignoring any local .env (empty --env-file)."""
    exe = _tool("docker-compose")
    version = _run([exe, "version", "--short"]).stdout.strip()
    assert version.startswith("1."), f"expected Debian's docker-compose v1, got {version!r}"
    env_file = tmp_path_factory.mktemp("compose") / "empty.env"
    env_file.write_text("")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COMPOSE_")}
    res = _run([exe, "--env-file", str(env_file), "-f", "docker-compose.yml", "config"], env=env)
    assert res.returncode == 0, f"docker-compose config failed:\n{res.stderr}"
    config: dict[str, Any] = yaml.safe_load(res.stdout)
    return config


def test_compose_services(compose: dict[str, Any]) -> None:
    services = compose["services"]
    expected = {"rabbitmq", "redis", "exchange-simulator", *APP_SERVICES, "tests"}
    assert expected <= set(services), f"missing services: {expected - set(services)}"
    ingestion = [n for n, s in services.items() if s.get("command") == ["bt-candle-ingestion"]]
    assert sorted(ingestion) == ["candle-ingestion-a", "candle-ingestion-b"], "need two ingestion replicas"
    assert services["edge70-signals"]["command"] == ["bt-edge70-signals"]
    assert services["exchange-simulator"]["command"] == ["bt-exchange-simulator"]
    assert services["rabbitmq"]["image"].startswith("rabbitmq:")
    assert services["redis"]["image"].startswith("redis:7")


def test_compose_healthchecks_and_ordering(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ["rabbitmq", "redis", "exchange-simulator", *APP_SERVICES]:
        test = services[name].get("healthcheck", {}).get("test")
        assert test, f"{name} has no healthcheck"
    assert "/api/v3/ping" in " ".join(services["exchange-simulator"]["healthcheck"]["test"])
    for name in APP_SERVICES:
        assert "/health" in " ".join(services[name]["healthcheck"]["test"]), name
    for name in [*APP_SERVICES, "tests"]:
        deps = services[name]["depends_on"]
        for infra in ("rabbitmq", "redis"):
            assert deps[infra]["condition"] == "service_healthy", f"{name} -> {infra}"
    for name in ("candle-ingestion-a", "candle-ingestion-b"):
        assert services[name]["depends_on"]["exchange-simulator"]["condition"] == "service_healthy"


def test_compose_environment(compose: dict[str, Any]) -> None:
    services = compose["services"]
    for name in APP_SERVICES:
        env = services[name]["environment"]
        assert env["AMQP_URL"].startswith("amqp://") and "@rabbitmq:5672" in env["AMQP_URL"], name
        assert env["REDIS_URL"].startswith("redis://redis:6379"), name
        assert env["SIMULATOR_URL"] == "http://exchange-simulator:9400", name
        assert env["HEALTH_PORT"] == "8080", name
        # Secrets are passed through from the shell/.env only when set, never given a literal value here.
        for secret in ("BINANCE_API_KEY", "BINANCE_API_SECRET", "SENTRY_DSN"):
            assert env.get(secret) is None, f"{name}: {secret} must not have a value in docker-compose.yml"
    assert services["candle-ingestion-a"]["environment"]["INGESTION_INTERVALS"] == "1d"
    assert services["edge70-signals"]["environment"]["EDGE70_LONG_LOOKBACK"] == "44"
    assert services["edge70-signals"]["environment"]["EDGE70_SHORT_LOOKBACK"] == "21"
    sim = services["exchange-simulator"]
    assert sim["environment"]["SIM_HOST"] == "0.0.0.0"
    mounts = [v for v in sim["volumes"] if str(v).endswith(":ro") or isinstance(v, dict)]
    assert any("/data/binance-spot" in str(v) and ("read_only" in str(v) or str(v).endswith(":ro")) for v in mounts)
    assert sim["environment"]["SIM_DATA_DIR"] == "/data/binance-spot"


def test_compose_data_dir_is_configurable(tmp_path: Path) -> None:
    exe = _tool("docker-compose")
    env_file = tmp_path / "test.env"
    env_file.write_text("CANDLES_DATA_DIR=/srv/candles\n")
    res = _run([exe, "--env-file", str(env_file), "-f", "docker-compose.yml", "config"])
    assert res.returncode == 0, res.stderr
    sim = yaml.safe_load(res.stdout)["services"]["exchange-simulator"]
    assert "/srv/candles:/data/binance-spot:ro" in sim["volumes"]


def test_compose_tests_service(compose: dict[str, Any]) -> None:
    tests = compose["services"]["tests"]
    assert tests["build"]["target"] == "test"
    assert tests.get("profiles") == ["test"], "the tests service must not start with a plain `up`"
    assert tests["command"] == ["make", "test"]
    env = tests["environment"]
    assert env["TEST_AMQP_URL"].endswith("@rabbitmq:5672/bt-test")
    assert env["TEST_REDIS_URL"].startswith("redis://redis:6379/")
    assert env["SHARED_DATA_DIR"] == "/data/binance-spot"
    # scripts/ensure-infra.sh (run by `make test`) looks for the infrastructure on loopback.
    script = " ".join(tests["entrypoint"])
    for target in ("127.0.0.1,fork,reuseaddr TCP:rabbitmq:5672", "127.0.0.1,fork,reuseaddr TCP:redis:6379"):
        assert target in script


# --------------------------------------------------------------------------------------------- Dockerfile


def test_hadolint_dockerfile() -> None:
    res = _run([_tool("hadolint"), "--no-color", "Dockerfile"])
    assert res.returncode == 0, f"hadolint:\n{res.stdout}{res.stderr}"


def test_dockerfile_shape() -> None:
    text = (ROOT / "Dockerfile").read_text()
    stages = re.findall(r"^FROM\s+\S+\s+AS\s+(\S+)", text, flags=re.M | re.I)
    assert stages[-1] == "runtime", "the runtime stage must be last (the default build target)"
    assert {"build", "test", "runtime"} <= set(stages)
    assert "python:3.11-slim" in text
    assert "PYTHONUNBUFFERED=1" in text
    assert re.search(r'pip install\s+(-e\s+)?"?\.\[dev\]', text), "the test stage installs .[dev]"
    users = re.findall(r"^USER\s+(\S+)", text, flags=re.M)
    assert users and all(not u.startswith(("root", "0")) for u in users)
    assert not re.search(r"(?i)(api_key|api_secret|password|sentry_dsn)\s*=", text), "no secrets in the image"


def test_dockerignore() -> None:
    entries = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()}
    for required in (".git", ".venv", ".env", "var/", ".pytest_cache", ".mypy_cache", "**/__pycache__"):
        assert required in entries, f".dockerignore lacks {required}"


# --------------------------------------------------------------------------------------------- Helm chart


def _helm() -> Any:
    try:
        import helm_python
    except ImportError:
        pytest.fail(f"helm-python-sdk is not installed: {SETUP_HINT}", pytrace=False)
    return helm_python


def _render(values: dict[str, Any] | None, namespace: str = "trading") -> list[dict[str, Any]]:
    helm = _helm()
    with helm.Chart.load(str(CHART)) as chart:
        out = chart.render(values, name="binance-tool", namespace=namespace)
    docs: list[dict[str, Any]] = []
    for path, text in sorted(out.items()):
        if not path.endswith((".yaml", ".yml")):
            continue
        docs.extend(d for d in yaml.safe_load_all(text) if d)
    return docs


KIND_VALUES = yaml.safe_load((CHART / "values-kind.yaml").read_text())
PROD_VALUES = {
    "exchange": "binance",
    "image": {"repository": "registry.example/binance-tool", "tag": "1.2.3"},
    "secrets": {"binance": {"existingSecret": "bt-binance-live"}, "sentry": {"existingSecret": "bt-sentry"}},
}
SCENARIOS = {"defaults": None, "kind": KIND_VALUES, "production": PROD_VALUES}


@pytest.fixture(scope="module", params=sorted(SCENARIOS))
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict[str, Any]]]:
    return request.param, _render(SCENARIOS[request.param])


def _by_kind(docs: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def test_helm_lint() -> None:
    result = _helm().lint(str(CHART), strict=True)
    errors = [m for m in result["messages"] if m["severity"] > 1] + list(result["errors"])
    assert not errors, f"helm lint: {errors}"


@pytest.mark.parametrize("kube_version", KUBE_VERSIONS)
def test_manifests_match_kubernetes_schema(rendered: tuple[str, list[dict[str, Any]]], kube_version: str) -> None:
    import kubernetes_validate

    version = kubernetes_validate.latest_version() if kube_version == "latest" else kube_version
    scenario, docs = rendered
    assert docs, f"{scenario}: nothing rendered"
    problems = []
    for doc in docs:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            problems.append(f"{doc['kind']}/{doc['metadata']['name']}: {exc.message} at {list(exc.path)}")
    assert not problems, f"{scenario} @ {version}:\n" + "\n".join(problems)


def test_deployments(rendered: tuple[str, list[dict[str, Any]]]) -> None:
    scenario, docs = rendered
    deployments = _by_kind(docs, "Deployment")
    configmaps = _by_kind(docs, "ConfigMap")
    assert deployments["binance-tool-candle-ingestion"]["spec"]["replicas"] == 2
    assert "binance-tool-edge70-signals" in deployments
    assert deployments["binance-tool-order-ingestion"]["spec"]["replicas"] == 2
    for name in ("trackers", "position-checker", "performance", "position-sizer", "trade-abstraction"):
        assert deployments[f"binance-tool-{name}"]["spec"]["replicas"] == 1, name
    assert ("binance-tool-exchange-simulator" in deployments) == (scenario == "kind")

    for name, dep in deployments.items():
        pod = dep["spec"]["template"]
        spec = pod["spec"]
        assert spec["securityContext"]["runAsNonRoot"] is True, name
        assert spec["securityContext"]["runAsUser"] != 0, name
        (container,) = spec["containers"]
        component = dep["metadata"]["labels"]["app.kubernetes.io/component"]
        assert container["name"] == component
        sc = container["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False, name
        assert sc["capabilities"]["drop"] == ["ALL"], name
        assert {"requests", "limits"} <= set(container["resources"]), name
        assert all(k in container["resources"]["limits"] for k in ("cpu", "memory")), name

        logs = json.loads(pod["metadata"]["annotations"][f"ad.datadoghq.com/{component}.logs"])
        assert logs == [{"source": "python", "service": component}], name

        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        live, ready = container["livenessProbe"]["httpGet"], container["readinessProbe"]["httpGet"]
        env = {e["name"]: e for e in container.get("env", [])}
        cm = configmaps[container["envFrom"][0]["configMapRef"]["name"]]["data"]
        if component == "exchange-simulator":
            assert live["path"] == ready["path"] == "/api/v3/ping"
            assert ports[live["port"]] == 9400
            assert cm["SIM_HOST"] == "0.0.0.0"
            assert any(m["mountPath"] == cm["SIM_DATA_DIR"] and m["readOnly"] for m in container["volumeMounts"])
            continue
        assert (live["path"], ready["path"]) == ("/health", "/ready"), name
        if component == "trade-abstraction":  # its API port serves the probes
            assert ports[live["port"]] == ports[ready["port"]] == 9500 == int(cm["TAS_PORT"]), name
            assert env["TAS_TOKENS"]["valueFrom"]["secretKeyRef"]["name"] == "binance-tool-tas"
        else:
            assert ports[live["port"]] == ports[ready["port"]] == 8080 == int(cm["HEALTH_PORT"]), name
        if component == "position-sizer":
            assert env["TAS_URL"]["value"] == "http://binance-tool-trade-abstraction:9500"
            assert env["TAS_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "binance-tool-tas"
        assert env["DD_AGENT_HOST"]["valueFrom"]["fieldRef"]["fieldPath"] == "status.hostIP", name
        for secret in ("AMQP_URL", "REDIS_URL"):
            assert "secretKeyRef" in env[secret]["valueFrom"], f"{name}: {secret}"
        has_binance = {"BINANCE_API_KEY", "BINANCE_API_SECRET"} <= set(env)
        assert has_binance == (scenario != "kind"), f"{name}: Binance keys only for a real exchange"
        assert cm["EXCHANGE"] == {"kind": "simulator", "defaults": "binance-testnet"}.get(scenario, "binance")
        if scenario == "kind":
            assert cm["SIMULATOR_URL"] == "http://binance-tool-exchange-simulator:9400"

    for cm_name, cm in configmaps.items():
        leaked = SECRET_ENV & set(cm["data"])
        assert not leaked, f"{scenario}: ConfigMap {cm_name} carries secrets {leaked}"
    for dep in deployments.values():
        for e in dep["spec"]["template"]["spec"]["containers"][0].get("env", []):
            if e["name"] in SECRET_ENV:
                assert "value" not in e and "secretKeyRef" in e["valueFrom"], e


def test_simulator_service_only_when_enabled() -> None:
    services = _by_kind(_render(KIND_VALUES), "Service")
    sim = services["binance-tool-exchange-simulator"]
    assert sim["spec"]["ports"][0]["port"] == 9400
    assert sim["spec"]["selector"]["app.kubernetes.io/component"] == "exchange-simulator"
    assert set(_by_kind(_render(None), "Service")) == {"binance-tool-trade-abstraction"}


def test_sentry_and_production_secrets_are_references() -> None:
    dep = _by_kind(_render(PROD_VALUES), "Deployment")["binance-tool-edge70-signals"]
    env = {e["name"]: e for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["SENTRY_DSN"]["valueFrom"]["secretKeyRef"]["name"] == "bt-sentry"
    assert env["BINANCE_API_KEY"]["valueFrom"]["secretKeyRef"]["name"] == "bt-binance-live"
    assert dep["spec"]["template"]["spec"]["containers"][0]["image"] == "registry.example/binance-tool:1.2.3"


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"exchange": "binance", "secrets": {"binance": {"existingSecret": ""}}}, "secrets.binance.existingSecret"),
        ({"exchange": "kraken"}, "exchange must be one of"),
        ({"exchange": "simulator"}, "services.exchange-simulator.enabled"),
        ({"secrets": {"amqp": {"existingSecret": ""}}}, "secrets.amqp.existingSecret"),
    ],
)
def test_chart_rejects_unworkable_values(values: dict[str, Any], message: str) -> None:
    helm = _helm()
    with pytest.raises(helm.HelmError, match=re.escape(message)):
        _render(values)


def _walk(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        return [item for k, v in node.items() for item in _walk(v, f"{path}.{k}")]
    if isinstance(node, list):
        return [item for i, v in enumerate(node) for item in _walk(v, f"{path}[{i}]")]
    return [(path, node)]


def test_values_hold_no_literal_secrets() -> None:
    for path in CHART.glob("values*.yaml"):
        for where, value in _walk(yaml.safe_load(path.read_text())):
            assert where.rsplit(".", 1)[-1] not in SECRET_ENV, f"{path.name}: literal {where}"
            if isinstance(value, str):
                assert not re.search(r"\w+://[^/\s:@]+:[^@\s]+@", value), f"{path.name}: credentials in {where}"


# --------------------------------------------------------------------------------------------- shell


def test_shellcheck() -> None:
    missing = [s for s in SHELL_SCRIPTS if not (ROOT / s).is_file()]
    assert not missing, f"missing scripts: {missing}"
    res = _run([_tool("shellcheck"), "--external-sources", *SHELL_SCRIPTS])
    assert res.returncode == 0, f"shellcheck:\n{res.stdout}{res.stderr}"
    not_executable = [s for s in SHELL_SCRIPTS if not os.access(ROOT / s, os.X_OK)]
    assert not not_executable, f"not executable: {not_executable}"


@pytest.mark.parametrize("script", ["run-docker-cluster.sh", "run-docker-tests.sh"])
def test_docker_scripts_fail_clearly_without_engine(script: str, tmp_path: Path) -> None:
    """With a `docker` whose `info` fails, the scripts stop with a clear message before doing anything."""
    fake = tmp_path / "docker"
    fake.write_text('#!/bin/sh\n[ "$1" = compose ] && [ "$2" = version ] && exit 0\nexit 1\n')
    fake.chmod(0o755)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}"}
    res = _run(["bash", script], env=env)
    assert res.returncode != 0
    assert "no Docker engine is reachable" in res.stderr, res.stderr
