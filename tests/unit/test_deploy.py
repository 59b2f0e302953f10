"""The deployment files under deploy/ agree with the code they deploy.

Static checks only: no cluster, no container engine, no network. The Kubernetes manifests are
parsed with PyYAML and compared with `services.ksd.cli` (which services, workers and commands exist),
`shared.settings` (ports, every setting and its accepted values), `shared.worker` (the workers'
metrics ports) and `shared.db` (connections); the systemd units and the Containerfile are read as
text. Schema validation of the manifests (kubernetes-validate) is a manual step described in
deploy/README.md, not part of this suite.
"""

from __future__ import annotations

import ipaddress
import json
import re
import shlex
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
import typer
import yaml

from services.ksd.cli import SERVICES, WEB, WORKERS, app
from shared.audit.signing import generate_private_key, private_key_pem
from shared.db import connection_budget
from shared.settings import Settings
from shared.worker import metrics_port

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
K8S = DEPLOY / "k8s"
SYSTEMD = DEPLOY / "systemd"
CONTAINERFILE = DEPLOY / "Containerfile"

NAMESPACE = "sinergi-ksd"
KUSTOMIZATION = "kustomization.yaml"
EXAMPLE_SECRET = "secret.example.yaml"
EXAMPLE_PODMONITOR = "podmonitor.example.yaml"
# Examples to adapt and apply by hand: parsed and checked, never in the kustomization.
EXAMPLE_SUFFIX = ".example.yaml"
PLACEHOLDER = "CHANGE-ME"
# Variables whose value is a credential: only ever from a Secret.
SECRET_VARS = {
    "DATABASE_URL",
    "KSD_JWT_SECRET",
    "KSD_JWT_PUBLIC_KEY",
    "KSD_S3_SECRET_ACCESS_KEY",
    "KSD_AUDIT_SIGNING_KEY",
    "KSD_METRICS_TOKEN",
    "KSD_ALERT_WEBHOOK_SECRET",
    "KSD_SMTP_PASSWORD",
}
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "PriorityClass", "StorageClass"}
WORKLOAD_KINDS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}

DEFAULTS = Settings()
DEFAULT_PORTS = {service: DEFAULTS.port_of(service) for service in (*SERVICES, WEB)}


# ---------------------------------------------------------------------------- helpers


def _manifest_files() -> list[Path]:
    return sorted(p for p in K8S.iterdir() if p.suffix in {".yaml", ".yml"})


def _load(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def _objects(*, include_example: bool = False) -> list[tuple[str, dict[str, Any]]]:
    """(file name, object) for every Kubernetes object under deploy/k8s (the examples too
    with `include_example`)."""
    found = []
    for path in _manifest_files():
        if path.name == KUSTOMIZATION or (path.name.endswith(EXAMPLE_SUFFIX) and not include_example):
            continue
        found += [(path.name, doc) for doc in _load(path)]
    return found


def _of_kind(kind: str) -> list[dict[str, Any]]:
    return [doc for _, doc in _objects() if doc["kind"] == kind]


def _pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def _containers(pod: dict[str, Any]) -> list[dict[str, Any]]:
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def _workloads() -> list[dict[str, Any]]:
    return [doc for _, doc in _objects() if doc["kind"] in WORKLOAD_KINDS]


def _argv(container: dict[str, Any]) -> list[str]:
    return [*container.get("command", []), *container.get("args", [])]


def _role(deployment: dict[str, Any]) -> tuple[str, str]:
    """("serve", service) or ("worker", service) from the main container's command line."""
    main = _pod_spec(deployment)["containers"][0]
    argv = _argv(main)
    assert len(argv) == 3 and argv[0] == "ksd" and argv[1] in {"serve", "worker"}, (
        f"Deployment {deployment['metadata']['name']} runs {argv}, not `ksd serve <service>` "
        "or `ksd worker <service>`"
    )
    return argv[1], argv[2]


def _resolve_port(port: int | str, container: dict[str, Any]) -> int:
    if isinstance(port, int):
        return port
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"port name {port!r} is not declared by container {container['name']}"
    return named[port]


def _env_entries() -> Iterator[tuple[str, dict[str, Any]]]:
    for workload in _workloads():
        for container in _containers(_pod_spec(workload)):
            for entry in container.get("env", []):
                yield f"{workload['metadata']['name']}/{container['name']}", entry


def _deployments_by_role() -> dict[tuple[str, str], dict[str, Any]]:
    return {_role(d): d for d in _of_kind("Deployment")}


# What production requires from the Secret, as valid stand-ins (the real ones are never here).
SECRET_STAND_INS = {
    "KSD_JWT_JWKS_URL": "https://idp.invalid/jwks.json",
    "KSD_METRICS_TOKEN": "metrics-token-stand-in",
}


def _configmap_settings() -> Settings:
    """The settings every pod runs with: the ConfigMap plus the Secret's keys."""
    (config,) = _of_kind("ConfigMap")
    return Settings.from_env({**config["data"], **SECRET_STAND_INS,
                              "KSD_AUDIT_SIGNING_KEY": private_key_pem(generate_private_key())})


def _secret_env(container: dict[str, Any], name: str) -> dict[str, Any] | None:
    """The secretKeyRef a container's variable `name` comes from, if any."""
    for entry in container.get("env", []):
        if entry["name"] == name:
            return entry.get("valueFrom", {}).get("secretKeyRef")
    return None


def _metrics_port_of(role: tuple[str, str], settings: Settings) -> int:
    kind, service = role
    port = settings.port_of(service) if kind == "serve" else metrics_port(settings, service)
    assert port is not None, f"{service} worker: KSD_WORKER_METRICS_PORT is 0 in the ConfigMap"
    return port


# ---------------------------------------------------------------------------- Kubernetes


def test_manifests_are_kubernetes_objects_in_our_namespace() -> None:
    objects = _objects(include_example=True)
    assert objects, "no manifests under deploy/k8s"
    for name, doc in objects:
        assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), name
        assert doc.get("metadata", {}).get("name"), f"{name}: {doc['kind']} without a name"
        if doc["kind"] in CLUSTER_SCOPED:
            continue
        assert doc["metadata"].get("namespace") == NAMESPACE, (
            f"{name}: {doc['kind']}/{doc['metadata']['name']} not in namespace {NAMESPACE}"
        )
    namespaces = [d["metadata"]["name"] for _, d in objects if d["kind"] == "Namespace"]
    assert namespaces == [NAMESPACE]


def test_a_deployment_for_every_service_and_worker_and_nothing_else() -> None:
    deployments = _of_kind("Deployment")
    roles = [_role(d) for d in deployments]
    assert len(roles) == len(set(roles)), f"two Deployments run the same command: {roles}"
    expected = {("serve", s) for s in (*SERVICES, WEB)} | {("worker", w) for w in WORKERS}
    assert set(roles) == expected
    for _kind, service in roles:
        assert (REPO / "services" / service / "app.py").is_file(), f"no services/{service}/app.py"


@pytest.mark.parametrize("service", SERVICES)
def test_service_ports_and_probes(service: str) -> None:
    deployment = _deployments_by_role()[("serve", service)]
    container = _pod_spec(deployment)["containers"][0]
    port = DEFAULT_PORTS[service]
    assert [p["containerPort"] for p in container["ports"]] == [port]

    probes = {kind: container.get(kind) for kind in ("livenessProbe", "readinessProbe", "startupProbe")}
    assert probes["livenessProbe"] and probes["readinessProbe"], f"{service}: liveness and readiness probes required"
    expected_paths = {"livenessProbe": "/health", "readinessProbe": "/ready", "startupProbe": "/health"}
    for kind, probe in probes.items():
        if probe is None:
            continue
        http = probe.get("httpGet")
        assert http, f"{service}: {kind} is not an HTTP probe"
        assert http["path"] == expected_paths[kind], f"{service}: {kind} hits {http['path']}"
        assert _resolve_port(http["port"], container) == port, f"{service}: {kind} port"

    annotations = deployment["spec"]["template"]["metadata"].get("annotations", {})
    if "prometheus.io/port" in annotations:
        assert annotations["prometheus.io/port"] == str(port)
        assert annotations.get("prometheus.io/path", "/metrics") == "/metrics"


def test_replicas() -> None:
    for (kind, service), deployment in _deployments_by_role().items():
        replicas = deployment["spec"].get("replicas", 1)
        if kind == "serve":
            assert replicas >= 2, f"{service}: run at least 2 replicas"
        else:
            # More would be safe but idle: they race for the same events.
            assert replicas == 1, f"{service} worker: keep exactly 1 replica"
            assert deployment["spec"]["strategy"]["type"] == "Recreate", f"{service} worker: no overlap in a rollout"


def test_kubernetes_services_reach_the_service_ports() -> None:
    deployments = _deployments_by_role()
    services = _of_kind("Service")
    targeted = set()
    for svc in services:
        selector = svc["spec"]["selector"]
        matches = [
            (role, d) for role, d in deployments.items()
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(matches) == 1, f"Service {svc['metadata']['name']} selects {len(matches)} Deployments"
        (kind, service), deployment = matches[0]
        assert kind == "serve"
        targeted.add(service)
        container = _pod_spec(deployment)["containers"][0]
        for port in svc["spec"]["ports"]:
            target = port.get("targetPort", port["port"])
            assert _resolve_port(target, container) == DEFAULT_PORTS[service]
    assert targeted == {*SERVICES, WEB}


def test_deployment_selectors_match_their_pods() -> None:
    for doc in _of_kind("Deployment") + _of_kind("PodDisruptionBudget"):
        selector = doc["spec"]["selector"]["matchLabels"]
        pods = [
            d for d in _of_kind("Deployment")
            if selector.items() <= d["spec"]["template"]["metadata"]["labels"].items()
        ]
        assert len(pods) == 1, f"{doc['kind']}/{doc['metadata']['name']} selects {len(pods)} Deployments"


def test_configmap_settings_agree_with_the_deployments() -> None:
    (config,) = _of_kind("ConfigMap")
    data = config["data"]
    assert data.get("KSD_HOST") == "0.0.0.0", "in a pod the services must listen on 0.0.0.0"
    assert data.get("KSD_ENVIRONMENT") == "production"
    for service, port in DEFAULT_PORTS.items():
        var = f"KSD_{service.upper()}_PORT"
        if var in data:
            assert data[var] == str(port), f"{var} differs from the Deployment's containerPort {port}"
    # Every value must be one the settings accept (strings, as the environment gives them),
    # with the values production requires from the Secret.
    secrets = {
        "KSD_JWT_JWKS_URL": "https://idp.invalid/jwks.json",
        "KSD_AUDIT_SIGNING_KEY": private_key_pem(generate_private_key()),
    }
    Settings.from_env({**data, **secrets})
    for workload in _workloads():
        for container in _containers(_pod_spec(workload)):
            refs = [e["configMapRef"]["name"] for e in container.get("envFrom", []) if "configMapRef" in e]
            assert refs == [config["metadata"]["name"]], f"{workload['metadata']['name']}: envFrom {refs}"


# What `ksd migrate` holds at most while it runs (a connection and an event-store pool of 1,
# sometimes both at once), and what a default PostgreSQL offers an ordinary role.
MIGRATION_CONNECTIONS = 3
DEFAULT_MAX_CONNECTIONS, DEFAULT_SUPERUSER_RESERVED = 100, 3


def test_the_manifests_fit_a_default_postgresql_even_during_a_rolling_update() -> None:
    settings = _configmap_settings()
    budget = connection_budget(settings)
    total = MIGRATION_CONNECTIONS
    probes = 0  # `ksd worker-alive` opens one connection for a moment, in each pod it probes
    for deployment in _of_kind("Deployment"):
        kind, service = _role(deployment)
        strategy = deployment["spec"].get("strategy", {})
        surge = strategy.get("rollingUpdate", {}).get("maxSurge", 0) if strategy.get("type") == "RollingUpdate" else 0
        assert isinstance(surge, int), f"{deployment['metadata']['name']}: give maxSurge as a number of pods"
        pods = deployment["spec"]["replicas"] + surge
        # The web application holds no database connection.
        total += pods * budget.get(service if kind == "serve" else f"{service}-worker", 0)
        container = _pod_spec(deployment)["containers"][0]
        if any("worker-alive" in (container.get(kind) or {}).get("exec", {}).get("command", [])
               for kind in ("livenessProbe", "startupProbe")):
            probes += pods
    available = DEFAULT_MAX_CONNECTIONS - DEFAULT_SUPERUSER_RESERVED
    assert total + settings.db_connection_headroom <= available, (
        f"{total} connections at most (+ {settings.db_connection_headroom} headroom) > {available}: "
        "lower KSD_DB_POOL_MAX in the ConfigMap or document a larger server"
    )
    # The probes' moments come out of the headroom (a `ksd` command is what it is kept for),
    # leaving most of it to administrators.
    assert probes == len(WORKERS)
    assert probes <= settings.db_connection_headroom // 2, f"{probes} probe connections eat the headroom"


def test_the_documented_connection_budgets_are_the_codes() -> None:
    from shared.db import worker_connections

    deploy_readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for service in WORKERS:
        figure = worker_connections(service)
        assert f"| `ksd worker {service}` | {figure}:" in deploy_readme, f"deploy/README.md: {service} worker"
        assert f"| {service} worker | {figure} |" in readme, f"README.md: {service} worker"
    assert f"**{sum(connection_budget(Settings()).values())}**" in readme, "README.md: the total with the defaults"
    assert "pool_mode = session" in deploy_readme and "LISTEN" in deploy_readme
    connections = re.split(r"\n##+ ", deploy_readme.partition("### Connections")[2])[0]
    assert "`ksd worker-alive`" in connections, "deploy/README.md, Connections: the liveness probes' connections"


def test_every_operator_command_is_described_under_operations() -> None:
    readme = (DEPLOY / "README.md").read_text(encoding="utf-8")
    operations = re.split(r"\n## ", readme.partition("\n## Operations\n")[2])[0]
    assert operations, "deploy/README.md has no Operations section"
    development_only = {"run", "token"}  # `make run`; tokens come from the identity provider
    runs_as_a_process = {"serve", "worker"}  # the units and Deployments
    commands = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    commands -= development_only | runs_as_a_process
    assert {"status", "replay-dead-letters", "sweep-blobs", "worker-alive"} <= commands
    for command in sorted(commands):
        assert f"`ksd {command}" in operations, f"deploy/README.md, Operations: when to run `ksd {command}`"
    env_example = (SYSTEMD / "ksd.env.example").read_text(encoding="utf-8")
    assert f"KSD_DB_POOL_MAX={Settings().db_pool_max}" in env_example


def test_pods_do_not_get_service_link_variables() -> None:
    # Service links would inject e.g. KSD_REGISTRY_PORT=tcp://... for a Service named
    # ksd-registry and break the settings.
    for workload in _workloads():
        assert _pod_spec(workload).get("enableServiceLinks") is False, workload["metadata"]["name"]


def test_no_literal_secrets() -> None:
    for where, entry in _env_entries():
        if entry["name"] in SECRET_VARS:
            assert "value" not in entry, f"{where}: {entry['name']} has a literal value"
            assert entry.get("valueFrom", {}).get("secretKeyRef"), f"{where}: {entry['name']} not from a Secret"
        assert not re.search(r"postgres(ql)?://", str(entry.get("value", ""))), f"{where}: a database URL"
    for config in _of_kind("ConfigMap"):
        assert not SECRET_VARS & set(config.get("data", {})), "credentials in a ConfigMap"
    assert not _of_kind("Secret"), "a Secret is applied with the manifests; keep only secret.example.yaml"
    for path in _manifest_files():
        if path.name == EXAMPLE_SECRET:
            continue
        text = path.read_text(encoding="utf-8")
        assert PLACEHOLDER not in text or path.name.endswith(EXAMPLE_SUFFIX), f"{path.name}: a placeholder"
        assert not re.search(r"postgres(ql)?://", text), f"{path.name}: a database URL"
        assert "-----BEGIN" not in text, f"{path.name}: key material"


def test_example_secret_holds_placeholders_for_every_referenced_key() -> None:
    (secret,) = _load(K8S / EXAMPLE_SECRET)
    assert secret["kind"] == "Secret"
    values = {**secret.get("stringData", {}), **secret.get("data", {})}
    for key, value in values.items():
        assert PLACEHOLDER in str(value), f"{EXAMPLE_SECRET}: {key} is not a {PLACEHOLDER} placeholder"
    refs = [e["valueFrom"]["secretKeyRef"] for _, e in _env_entries() if "secretKeyRef" in e.get("valueFrom", {})]
    assert refs
    for ref in refs:
        assert ref["name"] == secret["metadata"]["name"]
        if not ref.get("optional", False):
            assert ref["key"] in values, f"required key {ref['key']} missing from {EXAMPLE_SECRET}"


def test_one_image_everywhere() -> None:
    images = {c["image"] for w in _workloads() for c in _containers(_pod_spec(w))}
    assert len(images) == 1, f"different images: {sorted(images)}"
    (image,) = images
    kustomization = _load(K8S / KUSTOMIZATION)[0]
    names = [i["name"] for i in kustomization.get("images", [])]
    if names:
        assert names == [image.rsplit(":", 1)[0]], "kustomization images: must rename the image the manifests use"


def test_pods_run_non_root_on_a_read_only_root_filesystem() -> None:
    containerfile_uid = _containerfile_user().split(":")[0]
    for workload in _workloads():
        name = workload["metadata"]["name"]
        pod = _pod_spec(workload)
        pod_ctx = pod.get("securityContext", {})
        assert pod_ctx.get("runAsNonRoot") is True, f"{name}: runAsNonRoot"
        if "runAsUser" in pod_ctx:
            assert str(pod_ctx["runAsUser"]) == containerfile_uid, f"{name}: runAsUser differs from the image's USER"
        empty_dirs = {v["name"] for v in pod.get("volumes", []) if "emptyDir" in v}
        for container in _containers(pod):
            ctx = container.get("securityContext", {})
            assert ctx.get("readOnlyRootFilesystem") is True, f"{name}: read-only root filesystem"
            assert ctx.get("allowPrivilegeEscalation") is False, f"{name}: allowPrivilegeEscalation"
            mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
            assert mounts.get("/tmp") in empty_dirs, f"{name}: /tmp must be an emptyDir"
            resources = container.get("resources", {})
            for bound in ("requests", "limits"):
                assert {"cpu", "memory"} <= set(resources.get(bound, {})), f"{name}: resources.{bound}"


def test_migration_job_runs_ksd_migrate() -> None:
    jobs = _of_kind("Job")
    assert [_argv(_pod_spec(j)["containers"][0]) for j in jobs] == [["ksd", "migrate"]]


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _load(K8S / KUSTOMIZATION)[0]
    assert kustomization["kind"] == "Kustomization"
    assert kustomization.get("namespace") == NAMESPACE
    listed = kustomization.get("resources", [])
    assert len(listed) == len(set(listed)), "a resource is listed twice"
    on_disk = {p.name for p in _manifest_files() if not p.name.endswith(EXAMPLE_SUFFIX)} - {KUSTOMIZATION}
    assert set(listed) == on_disk
    assert {EXAMPLE_SECRET, EXAMPLE_PODMONITOR} <= {p.name for p in _manifest_files()}


# ---------------------------------------------------------------------------- metrics, workers, edge


def test_every_pod_that_serves_metrics_requires_the_metrics_token_from_the_secret() -> None:
    # Without a token /metrics is closed in production (403), so no scraper could read it.
    assert _configmap_settings().metrics_public is False, "KSD_METRICS_PUBLIC opens /metrics to anyone"
    for role, deployment in _deployments_by_role().items():
        if role == ("serve", WEB):  # no /metrics: a client of the services, whose metrics count its calls
            continue
        ref = _secret_env(_pod_spec(deployment)["containers"][0], "KSD_METRICS_TOKEN")
        assert ref and ref["name"] == "ksd-secrets", f"{role}: KSD_METRICS_TOKEN not from the Secret"
        assert not ref.get("optional", False), f"{role}: KSD_METRICS_TOKEN must be required"


def test_workers_serve_metrics_on_their_port_and_are_probed_by_their_heartbeat() -> None:
    settings = _configmap_settings()
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert "worker-alive" in commands
    for (kind, service), deployment in _deployments_by_role().items():
        if kind != "worker":
            continue
        container = _pod_spec(deployment)["containers"][0]
        ports = [(p.get("name"), p["containerPort"]) for p in container.get("ports", [])]
        assert ports == [("metrics", metrics_port(settings, service))], f"{service} worker: ports {ports}"
        assert not container.get("readinessProbe"), f"{service} worker: no Service sends it traffic"
        for probe_kind in ("startupProbe", "livenessProbe"):
            probe = container.get(probe_kind)
            assert probe, f"{service} worker: {probe_kind} missing"
            # Not HTTP: the metrics port wants a token a probe cannot send.
            assert probe.get("exec", {}).get("command") == ["ksd", "worker-alive", service], probe
            # Python's start plus the command's 3 s connect timeout.
            assert probe.get("timeoutSeconds", 1) >= 5, f"{service} worker: {probe_kind} timeout"
        startup = container["startupProbe"]
        assert startup["periodSeconds"] * startup["failureThreshold"] >= settings.worker_stale_after_seconds


def test_worker_alive_answers_for_every_worker_the_manifests_probe() -> None:
    from typer.testing import CliRunner

    for service in WORKERS:
        result = CliRunner().invoke(app, ["worker-alive", service, "--help"])
        assert result.exit_code == 0, result.output
    assert CliRunner().invoke(app, ["worker-alive", "keuangan"], env={"DATABASE_URL": "postgresql://x@127.0.0.1:1/x"}
                              ).exit_code == 2


def test_prometheus_scrapes_every_metrics_port_with_the_token() -> None:
    settings = _configmap_settings()
    (monitor,) = _load(K8S / EXAMPLE_PODMONITOR)
    assert monitor["kind"] == "PodMonitor" and monitor["metadata"]["namespace"] == NAMESPACE
    selector = monitor["spec"]["selector"]["matchLabels"]
    endpoints = {e["port"]: e for e in monitor["spec"]["podMetricsEndpoints"]}
    scraped = set()
    for role, deployment in _deployments_by_role().items():
        template = deployment["spec"]["template"]
        if role == ("serve", WEB):
            continue
        assert selector.items() <= template["metadata"]["labels"].items(), f"{role}: not selected by the PodMonitor"
        container = template["spec"]["containers"][0]
        port = _metrics_port_of(role, settings)
        names = [p.get("name") for p in container.get("ports", []) if p["containerPort"] == port]
        assert len(names) == 1 and names[0] in endpoints, f"{role}: metrics port {port} not scraped"
        scraped.add(names[0])
        endpoint = endpoints[names[0]]
        assert endpoint.get("path", "/metrics") == "/metrics"
        auth = endpoint.get("authorization", {})
        token = _secret_env(container, "KSD_METRICS_TOKEN")
        assert auth.get("type", "Bearer") == "Bearer" and token is not None
        assert auth.get("credentials") == {"name": token["name"], "key": token["key"]}, f"{role}: no token sent"
        # The annotations approach (a scrape job of your own) finds the same port.
        annotations = template["metadata"].get("annotations", {})
        assert annotations.get("prometheus.io/scrape") == "true", role
        assert annotations.get("prometheus.io/port") == str(port), role
        assert annotations.get("prometheus.io/path", "/metrics") == "/metrics", role
    assert scraped == set(endpoints), f"endpoints for ports no pod has: {set(endpoints) - scraped}"


def test_a_service_stays_in_its_service_through_a_worker_restart_as_short_as_the_stale_limit() -> None:
    # /ready is 503 from the moment a worker stops until its successor beats: the readiness
    # probe tolerates as long a gap as the code tolerates a missing heartbeat.
    settings = _configmap_settings()
    for (kind, service), deployment in _deployments_by_role().items():
        if kind == "serve":
            probe = _pod_spec(deployment)["containers"][0]["readinessProbe"]
            window = probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3)
            assert window >= settings.worker_stale_after_seconds, f"{service}: out of the Service after {window} s"


def test_forwarded_headers_are_believed_from_the_ingress_network_only() -> None:
    networks = _configmap_settings().trusted_proxy_networks
    assert networks, "KSD_TRUSTED_PROXIES unset: every client would share the ingress controller's address"
    assert all(n.prefixlen > 0 for n in networks), "trusting every address lets any client forge X-Forwarded-For"


def test_the_registry_worker_reaches_the_document_store_like_the_registry() -> None:
    # It sweeps orphan documents (KSD_BLOB_SWEEP_INTERVAL_SECONDS), so it needs the same keys.
    deployments = _deployments_by_role()

    def s3(role: tuple[str, str]) -> dict[str, Any]:
        container = _pod_spec(deployments[role])["containers"][0]
        return {e["name"]: e.get("valueFrom") for e in container.get("env", []) if e["name"].startswith("KSD_S3_")}

    assert s3(("serve", "registry")), "the registry service's S3 keys are gone: update this test"
    assert s3(("worker", "registry")) == s3(("serve", "registry"))


# Settings a deployment need not name: development only, or defaults that suit production
# (README.md's configuration table describes each). Any other setting must be named where an
# operator of that deployment sets things, so a new one cannot be forgotten here.
DEVELOPMENT_ONLY = {"dev_token_ttl_hours", "db_connection_headroom", "pg_binaries"}
PRODUCTION_DEFAULTS = {
    "page_size_default", "page_size_max", "graphql_max_depth", "graphql_max_aliases", "graphql_max_tokens",
    "max_json_body_bytes", "pks_max_years", "alert_refresh_seconds", "smtp_port", "smtp_starttls",
    "notify_retry_base_seconds", "notify_retry_max_seconds", "notify_timeout_seconds", "report_period_kinds",
    "report_deadline_days", "consolidation_deadline_days", "report_fresh_wait_seconds", "analysis_max_rows",
    "analysis_timeout_ms", "answer_cache_entries", "s3_prefix", "s3_region",
}
PER_DEPLOYMENT_DEFAULTS = {
    # Kubernetes: no blob directory (S3), a fixed data dir.
    "k8s": {"blob_dir"},
    # One machine: the filesystem store (the S3 settings are named in a comment), no probes.
    "systemd": {"s3_bucket", "s3_endpoint_url", "s3_access_key_id", "s3_secret_access_key", "alert_no_neighbour_scope",
                "smtp_username", "smtp_password", "jwt_secret"},
}


def _named_settings(*paths: Path) -> set[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in paths)
    named = {m.lower() for m in re.findall(r"\bKSD_([A-Z0-9_]+)\b", text)}
    return named | ({"database_url"} if "DATABASE_URL" in text else set())


@pytest.mark.parametrize("deployment", ["k8s", "systemd"])
def test_every_setting_is_named_where_an_operator_sets_it(deployment: str) -> None:
    fields = {f.name for f in msgspec.structs.fields(Settings)}
    if deployment == "k8s":
        named = _named_settings(K8S / "configmap.yaml", K8S / EXAMPLE_SECRET)
    else:
        named = _named_settings(SYSTEMD / "ksd.env.example", *SYSTEMD.glob("*.service"))
    exempt = DEVELOPMENT_ONLY | PRODUCTION_DEFAULTS | PER_DEPLOYMENT_DEFAULTS[deployment]
    missing = sorted(f"KSD_{f.upper()}" for f in fields - named - exempt)
    assert not missing, f"{deployment}: name these settings (with their default and a comment): {missing}"
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    for field in exempt & fields:
        assert f"KSD_{field.upper()}" in readme, f"KSD_{field.upper()} is not in README.md's configuration table"
    assert not exempt - fields, f"exempted settings that no longer exist: {sorted(exempt - fields)}"


def _commented_configmap_settings() -> dict[str, str]:
    """`# KSD_X: value` lines of the ConfigMap: settings shown for the operator to turn on."""
    text = (K8S / "configmap.yaml").read_text(encoding="utf-8")
    found = {}
    for name, raw in re.findall(r"^\s*#\s*(KSD_[A-Z0-9_]+):\s*(\S.*?)\s*$", text, re.M):
        value = yaml.safe_load(raw)
        found[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return found


def test_the_settings_commented_out_in_the_configmap_would_be_accepted() -> None:
    (config,) = _of_kind("ConfigMap")
    commented = _commented_configmap_settings()
    assert commented, "no commented-out settings found: the pattern changed?"
    base = {**config["data"], **SECRET_STAND_INS, "KSD_AUDIT_SIGNING_KEY": private_key_pem(generate_private_key())}
    for name, value in commented.items():
        assert name not in config["data"], f"{name} is both set and commented out"
        Settings.from_env({**base, name: value})


# ---------------------------------------------------------------------------- systemd


def _unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """A systemd unit as {section: {key: [values...]}} (keys may repeat)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], {})
            continue
        assert current is not None, f"{path.name}: {line!r} outside a section"
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: malformed line {line!r}"
        current.setdefault(key.strip(), []).append(value.strip())
    return sections


def _units() -> dict[str, dict[str, dict[str, list[str]]]]:
    return {p.name: _unit(p) for p in sorted(SYSTEMD.glob("*.service"))}


def _exec_start(unit: dict[str, dict[str, list[str]]]) -> list[str]:
    (line,) = unit["Service"]["ExecStart"]
    argv = shlex.split(line)
    assert argv[0].startswith("/") and Path(argv[0]).name == "ksd", f"ExecStart must run ksd by absolute path: {line}"
    return ["ksd", *argv[1:]]


def _words(unit: dict[str, dict[str, list[str]]], section: str, key: str) -> set[str]:
    return {w for value in unit.get(section, {}).get(key, []) for w in value.split()}


def test_systemd_units_cover_every_service_worker_and_the_migration() -> None:
    commands = {name: _exec_start(unit) for name, unit in _units().items()}
    expected = (
        [["ksd", "migrate"]]
        + [["ksd", "serve", s] for s in (*SERVICES, WEB)]
        + [["ksd", "worker", w] for w in WORKERS]
    )
    assert sorted(commands.values()) == sorted(expected), commands


def test_systemd_migration_runs_first() -> None:
    units = _units()
    (migrate,) = [n for n, u in units.items() if _exec_start(u) == ["ksd", "migrate"]]
    assert units[migrate]["Service"]["Type"] == ["oneshot"]
    for name, unit in units.items():
        if name == migrate or _exec_start(unit) == ["ksd", "serve", WEB]:  # the web app has no schema
            continue
        pre = [shlex.split(v)[1:] for v in unit["Service"].get("ExecStartPre", []) if "ksd" in v]
        ordered = migrate in _words(unit, "Unit", "Requires") and migrate in _words(unit, "Unit", "After")
        assert ordered or ["migrate"] in pre, f"{name} does not run after {migrate}"


def test_systemd_target_and_env_file() -> None:
    units = _units()
    targets = list(SYSTEMD.glob("*.target"))
    for target in targets:
        assert _words(_unit(target), "Unit", "Wants") >= set(units), f"{target.name} must want every unit"
    env_files = {v.lstrip("-") for u in units.values() for v in u["Service"].get("EnvironmentFile", [])}
    for example in SYSTEMD.glob("*.env.example"):
        values = dict(
            line.split("=", 1) for line in example.read_text(encoding="utf-8").splitlines()
            if line and not line.startswith("#")
        )
        for service, port in DEFAULT_PORTS.items():
            assert values.get(f"KSD_{service.upper()}_PORT", str(port)) == str(port)
        for var in SECRET_VARS & set(values):
            assert PLACEHOLDER in values[var] or not values[var], f"{example.name}: {var} is not a placeholder"
        assert any(Path(f).name == example.name.removesuffix(".example") for f in env_files)


def _env_example() -> tuple[dict[str, str], dict[str, str]]:
    """ksd.env.example's assignments: (set, commented out as `#KSD_X=value`)."""
    active, commented = {}, {}
    for line in (SYSTEMD / "ksd.env.example").read_text(encoding="utf-8").splitlines():
        if m := re.fullmatch(r"((?:KSD|PG)[A-Z0-9_]*|DATABASE_URL)=(.*)", line):
            active[m[1]] = m[2]
        elif m := re.fullmatch(r"#(KSD_[A-Z0-9_]+)=(.*)", line):
            commented[m[1]] = m[2]
    return active, commented


def test_the_env_file_is_accepted_with_its_placeholders_filled_in_and_so_is_every_commented_setting() -> None:
    import base64

    active, commented = _env_example()
    filled = {k: v for k, v in active.items() if PLACEHOLDER not in v or k.startswith(("DATABASE_URL", "KSD_JWT_JWKS"))}
    filled["KSD_AUDIT_SIGNING_KEY"] = base64.b64encode(bytes(range(32))).decode()  # a seed, as the comment says
    filled["KSD_METRICS_TOKEN"] = "metrics-token-stand-in"
    Settings.from_env(filled)
    for name, value in commented.items():
        assert name not in active, f"{name} is both set and commented out"
        Settings.from_env({**filled, name: value})
    # Production essentials of this wave: the metrics token (a placeholder to replace) and the
    # proxy on the same machine, which connects from loopback.
    assert PLACEHOLDER in active.get("KSD_METRICS_TOKEN", ""), "ksd.env.example: KSD_METRICS_TOKEN=CHANGE-ME"
    settings = Settings.from_env(filled)
    assert any(ipaddress.ip_address("127.0.0.1") in n for n in settings.trusted_proxy_networks), (
        "KSD_TRUSTED_PROXIES: trust the reverse proxy on this machine"
    )
    # Each worker unit tells where its metrics are.
    for service in WORKERS:
        unit = (SYSTEMD / f"ksd-{service}-worker.service").read_text(encoding="utf-8")
        assert f"127.0.0.1:{metrics_port(settings, service)}" in unit, f"ksd-{service}-worker.service: metrics port"


# ---------------------------------------------------------------------------- Containerfile


def _containerfile_instructions() -> list[tuple[str, str]]:
    text = re.sub(r"\\\n", " ", CONTAINERFILE.read_text(encoding="utf-8"))
    found = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            found.append((word.upper(), rest.strip()))
    return found


def _containerfile_user() -> str:
    users = [rest for word, rest in _containerfile_instructions() if word == "USER"]
    assert users, "the image must set a USER"
    return users[-1]


def test_containerfile() -> None:
    instructions = _containerfile_instructions()
    froms = [rest.split()[0] for word, rest in instructions if word == "FROM"]
    assert froms and all(f == "python:3.11-slim" for f in froms), froms
    runs = [rest for word, rest in instructions if word == "RUN"]
    lock = next(i for i, r in enumerate(runs) if "-r requirements.lock" in r)
    project = next(i for i, r in enumerate(runs) if re.search(r"pip install --no-deps \.(\s|$)", r))
    assert lock < project, "install the locked dependencies before the project"
    user = _containerfile_user()
    assert user.split(":")[0] not in {"root", "0"}, "the image must not run as root"
    env = " ".join(rest for word, rest in instructions if word == "ENV")
    assert re.search(r"\bKSD_HOST=0\.0\.0\.0\b", env)
    (entrypoint,) = [rest for word, rest in instructions if word == "ENTRYPOINT"]
    assert json.loads(entrypoint) == ["ksd"]
    exposed = {int(p) for word, rest in instructions if word == "EXPOSE" for p in rest.split()}
    workers = {metrics_port(DEFAULTS, w) for w in WORKERS}
    assert exposed == set(DEFAULT_PORTS.values()) | workers, "EXPOSE the services' ports and the workers' metrics ports"


def _locked(path: Path) -> dict[str, tuple[str, int]]:
    """`name -> (version, number of hashes)` of a pip-compile lock file."""
    pins: dict[str, tuple[str, int]] = {}
    for entry in re.split(r"\n(?=\S)", path.read_text(encoding="utf-8")):
        match = re.match(r"([A-Za-z0-9_.-]+)==(\S+)", entry)
        if match:
            name = re.sub(r"[-_.]+", "-", match[1]).lower()
            pins[name] = (match[2], len(re.findall(r"--hash=sha256:[0-9a-f]{64}", entry)))
    return pins


def test_the_image_installs_the_runtime_lock_alone_with_hashes() -> None:
    runtime, test = _locked(REPO / "requirements.lock"), _locked(REPO / "requirements-test.lock")
    assert runtime and test
    unhashed = [name for name, (_, hashes) in {**runtime, **test}.items() if not hashes]
    assert not unhashed, f"pins without --hash: {unhashed}"
    for tool in ("pytest", "hypothesis", "schemathesis", "playwright", "moto", "ruff", "mypy", "import-linter"):
        assert tool not in runtime, f"{tool} is a test dependency: requirements-test.lock, not the image's lock"
        assert tool in test, f"{tool} missing from requirements-test.lock"
    differ = {name: (runtime[name][0], test[name][0]) for name in runtime.keys() & test.keys()
              if runtime[name][0] != test[name][0]}
    assert not differ, f"the two locks disagree: {differ}"
    runs = [rest for word, rest in _containerfile_instructions() if word == "RUN"]
    installs = [r for r in runs if "requirements" in r]
    assert installs and all("--require-hashes" in r for r in installs), installs
    assert not any("requirements-test" in r for r in runs), "the image carries no test dependencies"
