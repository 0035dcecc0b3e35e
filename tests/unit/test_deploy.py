"""deploy/: the Kubernetes, Compose and systemd examples agree with pgmon and with each other.

Nothing is started here but pgmon's HTTP server: the manifests are parsed and checked field
by field, the environment and settings files they give pgmon go through pgmon's own loader,
and the tools that work offline (promtool, systemd-analyze, kubectl kustomize) check the
rest.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.http import HttpServer
from monitor.settings import DEFAULT_PORT, load_settings
from monitor.snapshot import SnapshotStore
from monitor.targets import build_targets
from tests.observability import binary
from tests.promql import ROOT, RULES

DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "kubernetes"
COMPOSE_DIR = DEPLOY / "compose"
SYSTEMD = DEPLOY / "systemd"
DATASOURCE = ROOT / "dashboards" / "provisioning" / "datasources" / "prometheus.yml"
PROVIDER = ROOT / "dashboards" / "provisioning" / "dashboards" / "pgmon.yml"
ALERTMANAGER = ROOT / "alerts" / "alertmanager.yml"

# The only value a password may have anywhere in deploy/.
PLACEHOLDER = "change-me"
# What a sidecar is configured with: libpq's variables (PGMON_* go through pgmon's loader).
LIBPQ_VARIABLES = {
    "PGHOST",
    "PGHOSTADDR",
    "PGPORT",
    "PGUSER",
    "PGDATABASE",
    "PGPASSWORD",
    "PGPASSFILE",
    "PGSSLMODE",
    "PGSSLROOTCERT",
    "PGSSLCERT",
    "PGSSLKEY",
    "PGCONNECT_TIMEOUT",
}


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc is not None]


def image_uid() -> int:
    """The UID the image runs as: a number, since runAsNonRoot can only verify a number."""
    dockerfile = ROOT / "Dockerfile"
    if not dockerfile.exists():
        return 10001
    users = re.findall(r"^USER\s+(\S+)", dockerfile.read_text(), re.M)
    assert users, "the Dockerfile sets no USER"
    user = users[-1].split(":")[0]
    assert user.isdigit(), f"Dockerfile: USER {user} should be numeric"
    return int(user)


def pgmon_down_job_regex() -> str:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    rule = next(r for g in groups for r in g["rules"] if r.get("alert") == "PgmonDown")
    found = re.search(r'job=~"([^"]+)"', rule["expr"])
    assert found, rule["expr"]
    return found.group(1)


def grafana_time_interval() -> str:
    source = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]
    return str(source["jsonData"]["timeInterval"])


def clean_environment(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> None:
    """Only `env` among the PG* and PGMON_* variables, as in a fresh container."""
    for name in [n for n in os.environ if n.upper().startswith("PG")]:
        monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)


def commented_example(text: str) -> str:
    """The YAML of the comment block that starts with a top-level key ("# targets:")."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if re.fullmatch(r"\s*# \w+:", line))
    block = []
    for line in lines[start:]:
        if not line.lstrip().startswith("#"):
            break
        block.append(line.lstrip()[2:])
    return "\n".join(block)


def test_commented_settings_examples_are_valid(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sidecar = one(resources(K8S), "ConfigMap", "pgmon-config")["data"]["pgmon.yaml"]
    for text in (sidecar, (SYSTEMD / "pgmon.yaml").read_text()):
        config = tmp_path / "pgmon.yaml"
        example = commented_example(text)
        assert example.count("\n") >= 3, example
        config.write_text(text + "\n" + example)
        clean_environment(monkeypatch, {"PGHOST": "localhost"})
        assert build_targets(load_settings(config))


# --- Kubernetes --------------------------------------------------------------------------


def kustomization(directory: Path) -> dict[str, Any]:
    return yaml.safe_load((directory / "kustomization.yaml").read_text())


def resources(directory: Path) -> list[dict[str, Any]]:
    """Every resource a kustomization directory lists, its bases' included (no patches)."""
    found: list[dict[str, Any]] = []
    for entry in kustomization(directory)["resources"]:
        path = (directory / entry).resolve()
        assert path.exists(), f"{directory / 'kustomization.yaml'}: {entry} does not exist"
        found += resources(path) if path.is_dir() else documents(path)
    return found


def one(docs: list[dict[str, Any]], kind: str, name: str | None = None) -> dict[str, Any]:
    chosen = [d for d in docs if d["kind"] == kind and name in (None, d["metadata"]["name"])]
    assert len(chosen) == 1, f"expected one {kind} {name or ''}, found {len(chosen)}"
    return chosen[0]


MANIFESTS = resources(K8S)
STATEFULSET = one(MANIFESTS, "StatefulSet")
POD = STATEFULSET["spec"]["template"]
CONTAINERS = {c["name"]: c for c in POD["spec"]["containers"]}
PGMON = next(c for c in CONTAINERS.values() if "pgmon" in c["image"])
POSTGRES = next(c for c in CONTAINERS.values() if c["image"].startswith("postgres:"))


def port_named(container: dict[str, Any], name: str) -> int:
    ports = [p["containerPort"] for p in container["ports"] if p["name"] == name]
    assert ports, f"container {container['name']} has no port named {name}"
    return int(ports[0])


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["name"]: e for e in container.get("env", [])}


def secret_ref(entry: dict[str, Any]) -> tuple[str, str]:
    ref = entry.get("valueFrom", {}).get("secretKeyRef")
    assert ref and "value" not in entry, f"{entry['name']} must come from a secretKeyRef"
    return ref["name"], ref["key"]


def configmap_file(container: dict[str, Any], path: str) -> str:
    """The content a ConfigMap volume puts at `path` in the container."""
    volumes = {v["name"]: v for v in POD["spec"]["volumes"]}
    for mount in container["volumeMounts"]:
        directory = mount["mountPath"].rstrip("/")
        if path.startswith(directory + "/") and "configMap" in volumes[mount["name"]]:
            configmap = one(MANIFESTS, "ConfigMap", volumes[mount["name"]]["configMap"]["name"])
            key = path[len(directory) + 1 :]
            assert key in configmap["data"], f"ConfigMap {configmap['metadata']['name']}: {key}"
            return str(configmap["data"][key])
    raise AssertionError(f"nothing is mounted at {path} in {container['name']}")


def test_every_kubernetes_file_parses_and_is_used() -> None:
    used: set[Path] = set()
    for path in sorted(K8S.rglob("*.yaml")):
        docs = documents(path)
        assert docs, f"{path} is empty"
        for doc in docs:
            assert doc.get("apiVersion") and doc.get("kind"), f"{path}: not a manifest"
        if path.name == "kustomization.yaml":
            config = docs[0]
            used |= {(path.parent / r).resolve() for r in config.get("resources", [])}
            used |= {(path.parent / p["path"]).resolve() for p in config.get("patches", [])}
    files = {p.resolve() for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    orphans = files - used
    assert not orphans, f"not listed in any kustomization.yaml: {sorted(map(str, orphans))}"
    assert not [d for d in MANIFESTS if d["kind"] == "Secret"], "ship no Secret manifest"


def test_statefulset_selects_its_pods_and_has_its_headless_service() -> None:
    labels = POD["metadata"]["labels"].items()
    assert STATEFULSET["spec"]["selector"]["matchLabels"].items() <= labels
    governing = one(MANIFESTS, "Service", STATEFULSET["spec"]["serviceName"])
    assert governing["spec"]["clusterIP"] == "None"
    assert governing["spec"]["selector"].items() <= labels
    assert governing["spec"]["ports"][0]["targetPort"] == "postgres"
    port_named(POSTGRES, "postgres")


def test_prometheusrule_carries_the_rule_file() -> None:
    rule = one(documents(K8S / "prometheusrule.yaml"), "PrometheusRule")
    assert rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert rule["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]
    assert rule in MANIFESTS


def test_metrics_port_is_the_same_from_container_to_servicemonitor() -> None:
    assert port_named(PGMON, "metrics") == DEFAULT_PORT
    assert "PGMON_LISTEN" not in env_of(PGMON)
    service = one(MANIFESTS, "Service", "pgmon")
    assert service["spec"]["selector"].items() <= POD["metadata"]["labels"].items()
    [port] = service["spec"]["ports"]
    assert port["targetPort"] == "metrics" and port["name"] == "metrics"
    monitor = one(MANIFESTS, "ServiceMonitor")
    assert (
        monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    )
    [endpoint] = monitor["spec"]["endpoints"]
    assert endpoint["port"] == port["name"]
    assert endpoint["path"] == "/metrics"
    assert endpoint["interval"] == grafana_time_interval()
    # The operator names the job after the Service: PgmonDown must see it.
    assert re.fullmatch(pgmon_down_job_regex(), service["metadata"]["name"])


def test_probes_point_at_pgmons_endpoints() -> None:
    live = PGMON["livenessProbe"]["httpGet"]
    ready = PGMON["readinessProbe"]["httpGet"]
    assert live["path"] == "/healthz" and ready["path"] == "/readyz"
    assert live["port"] == ready["port"] == "metrics"
    ready_now = [False]
    server = HttpServer(
        "127.0.0.1", 0, SnapshotStore(), lambda: (ready_now[0], "x"), lambda: b"[]", False
    )
    server.start()

    def status(path: str) -> int:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{server.port}{path}", timeout=5) as r:
                return int(r.status)
        except urllib.error.HTTPError as exc:
            return exc.code

    try:
        assert (status(live["path"]), status(ready["path"])) == (200, 503)
        ready_now[0] = True
        assert status(ready["path"]) == 200
    finally:
        server.stop()


def test_pgmon_runs_unprivileged_as_the_images_user() -> None:
    context = PGMON["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["runAsUser"] == context["runAsGroup"] == image_uid()
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    assert context["seccompProfile"]["type"] == "RuntimeDefault"
    assert POD["spec"]["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
    assert POD["spec"]["automountServiceAccountToken"] is False
    volumes = {v["name"]: v for v in POD["spec"]["volumes"]}
    tmp = [m for m in PGMON["volumeMounts"] if m["mountPath"] == "/tmp"]
    assert tmp and "emptyDir" in volumes[tmp[0]["name"]], "pgmon's only writable place"
    # Postgres too runs without root or capabilities, and writes only where it may.
    context = POSTGRES["securityContext"]
    assert context["runAsNonRoot"] is True and context["capabilities"]["drop"] == ["ALL"]
    if context.get("readOnlyRootFilesystem"):
        writable = {m["mountPath"] for m in POSTGRES["volumeMounts"] if not m.get("readOnly")}
        assert {"/var/run/postgresql", "/tmp"} <= writable
        pgdata = env_of(POSTGRES)["PGDATA"]["value"]
        assert any(pgdata.startswith(path + "/") for path in writable)


@pytest.mark.parametrize("name", sorted(CONTAINERS))
def test_containers_have_requests_and_limits(name: str) -> None:
    given = CONTAINERS[name]["resources"]
    assert {"cpu", "memory"} <= given["requests"].keys()
    assert "memory" in given["limits"]


def test_passwords_come_from_the_documented_secret() -> None:
    text = (K8S / "kustomization.yaml").read_text()
    command = re.search(r"kubectl create secret generic (\S+)", text)
    assert command, "kustomization.yaml should say how to create the Secret"
    documented = {(command.group(1), key) for key in re.findall(r"--from-literal=([\w-]+)=", text)}
    refs = {}
    for container in CONTAINERS.values():
        for name, entry in env_of(container).items():
            if "PASSWORD" in name:
                refs[container["name"], name] = secret_ref(entry)
    assert set(refs.values()) == documented
    # The role the init script creates gets the password pgmon logs in with.
    sql = configmap_file(POSTGRES, "/docker-entrypoint-initdb.d/10-pgmon-role.sql")
    getenv = re.search(r"\\getenv (\w+) (\w+)", sql)
    assert getenv, sql
    assert refs["pgmon", "PGPASSWORD"] == refs["postgres", getenv.group(2)]
    assert refs["postgres", "POSTGRES_PASSWORD"] != refs["pgmon", "PGPASSWORD"]


def test_init_script_creates_the_role_pgmon_connects_as() -> None:
    env = {name: entry.get("value") for name, entry in env_of(PGMON).items()}
    sql = configmap_file(POSTGRES, "/docker-entrypoint-initdb.d/10-pgmon-role.sql")
    variable = re.search(r"\\getenv (\w+) ", sql)
    assert variable
    assert f"CREATE ROLE {env['PGUSER']} LOGIN PASSWORD :'{variable.group(1)}';" in sql
    assert f"GRANT pg_monitor TO {env['PGUSER']};" in sql
    assert "CREATE EXTENSION IF NOT EXISTS pg_stat_statements;" in sql
    assert "shared_preload_libraries=pg_stat_statements" in POSTGRES["args"]
    # Over the pod's loopback, to this very server, in a database the image creates.
    assert env["PGHOST"] == "127.0.0.1"
    assert int(env["PGPORT"]) == port_named(POSTGRES, "postgres")
    assert env["PGDATABASE"] == env_of(POSTGRES).get("POSTGRES_DB", {}).get("value", "postgres")
    # initdb must not trust 127.0.0.1, or the password would not matter.
    assert "--auth-host=scram-sha-256" in env_of(POSTGRES)["POSTGRES_INITDB_ARGS"]["value"]


def test_pgmon_accepts_the_sidecars_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fields = {"metadata.namespace": "db", "metadata.name": "postgres-0"}
    env: dict[str, str] = {}
    for name, entry in env_of(PGMON).items():
        source = entry.get("valueFrom", {})
        if "fieldRef" in source:
            env[name] = fields[source["fieldRef"]["fieldPath"]]
        elif "secretKeyRef" in source:
            env[name] = "secret"
        else:  # $(NAME) refers to a variable defined above it
            env[name] = re.sub(r"\$\((\w+)\)", lambda m: env[m.group(1)], entry["value"])
    assert {n for n in env if n.startswith("PG") and not n.startswith("PGMON_")} <= (
        LIBPQ_VARIABLES
    )
    config = tmp_path / "pgmon.yaml"
    config.write_text(configmap_file(PGMON, env["PGMON_CONFIG"]))
    env["PGMON_CONFIG"] = str(config)
    clean_environment(monkeypatch, env)
    [target] = build_targets(load_settings())
    # Named after the pod, not 127.0.0.1:5432/postgres like every other sidecar.
    assert target.name == "db/postgres-0"
    assert target.dsn == ""


def test_scrape_annotations_variant() -> None:
    overlay = K8S / "scrape-annotations"
    docs = resources(overlay)
    assert {d["kind"] for d in docs} & {"ServiceMonitor", "PrometheusRule"} == set()
    [patch_entry] = kustomization(overlay)["patches"]
    [patch] = documents(overlay / patch_entry["path"])
    one(docs, patch["kind"], patch["metadata"]["name"])  # patches a resource of the base
    annotations = patch["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": str(port_named(PGMON, "metrics")),
        "prometheus.io/path": "/metrics",
    }


def test_kustomize_builds_both_variants() -> None:
    kubectl = shutil.which("kubectl")
    assert kubectl, "kubectl is not installed; `make deps` installs it"
    built = {}
    for directory in (K8S, K8S / "scrape-annotations"):
        done = subprocess.run(
            [kubectl, "kustomize", str(directory)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        built[directory.name] = list(yaml.safe_load_all(done.stdout))
    kinds = sorted(d["kind"] for d in built["kubernetes"])
    assert kinds == sorted(d["kind"] for d in MANIFESTS)
    statefulset = one(built["scrape-annotations"], "StatefulSet")
    assert statefulset["spec"]["template"]["metadata"]["annotations"]["prometheus.io/scrape"]


# --- Docker Compose ----------------------------------------------------------------------

COMPOSE = yaml.safe_load((COMPOSE_DIR / "compose.yaml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
PGMON_SERVICES = sorted(n for n, s in SERVICES.items() if s["image"].startswith("pgmon:"))


def mounts(service: str) -> Iterator[tuple[str, str]]:
    """(source, target) of each volume of a service; sources of bind mounts are paths."""
    for volume in SERVICES[service].get("volumes", []):
        assert isinstance(volume, str), f"{service}: use the short volume syntax"
        source, target = volume.split(":")[:2]
        yield source, target


def mounted_at(service: str, source: Path) -> str:
    """Where a file or directory of this repository appears in the service's container."""
    found = [t for s, t in mounts(service) if (COMPOSE_DIR / s).resolve() == source.resolve()]
    assert found, f"{service} does not mount {source.relative_to(ROOT)}"
    return found[0]


def compose_secrets(service: str) -> dict[str, str]:
    """secret name -> path in the container."""
    found = {}
    for entry in SERVICES[service].get("secrets", []):
        if isinstance(entry, str):
            found[entry] = f"/run/secrets/{entry}"
        else:
            found[entry["source"]] = entry.get("target", f"/run/secrets/{entry['source']}")
    return found


def test_compose_file_mounts_only_what_exists() -> None:
    assert PGMON_SERVICES == ["pgmon-primary", "pgmon-standby"]
    for name, service in SERVICES.items():
        for source, _ in mounts(name):
            if source.startswith((".", "/")):
                assert (COMPOSE_DIR / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in COMPOSE["volumes"], f"{name}: undeclared volume {source}"
        for secret in compose_secrets(name):
            assert secret in COMPOSE["secrets"], f"{name}: undeclared secret {secret}"
        if "build" in service:
            assert (COMPOSE_DIR / service["build"]["context"] / "pyproject.toml").exists()
    for name, secret in COMPOSE["secrets"].items():
        assert (COMPOSE_DIR / secret["file"]).is_file(), f"secret {name}: no file"


def test_compose_publishes_ports_on_loopback_only() -> None:
    published = 0
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            assert isinstance(port, str) and port.startswith("127.0.0.1:"), f"{name}: {port}"
            published += 1
        assert service.get("network_mode") in (None, "none"), name
    assert published >= 7


def test_compose_secret_files_hold_placeholders() -> None:
    for name, secret in COMPOSE["secrets"].items():
        assert PLACEHOLDER in (COMPOSE_DIR / secret["file"]).read_text(), name
    for name, service in SERVICES.items():
        for variable in service.get("environment", {}):
            if "PASSWORD" in variable:
                assert variable.endswith("_FILE"), f"{name}: {variable} is not read from a file"


def test_compose_pgmon_services_are_configured_alike(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    envs = {name: dict(SERVICES[name]["environment"]) for name in PGMON_SERVICES}
    hosts = {name: env.pop("PGHOST") for name, env in envs.items()}
    first, second = envs.values()
    assert first == second, "the pgmon services differ in more than PGHOST"
    assert set(first) <= LIBPQ_VARIABLES
    assert sorted(hosts.values()) == ["primary", "standby"]
    names = set()
    for name in PGMON_SERVICES:
        service = SERVICES[name]
        assert service["user"] == f"{image_uid()}:{image_uid()}"
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"]
        assert service["pull_policy"] == "build"
        assert SERVICES[hosts[name]]["image"].startswith("postgres:")
        env = {**envs[name], "PGHOST": hosts[name]}
        clean_environment(monkeypatch, env)
        [target] = build_targets(load_settings())
        names.add(target.name)
        # The password file is in a volume that the one-shot pgmon-pgpass writes.
        volume = next(s for s, t in mounts(name) if env["PGPASSFILE"].startswith(t + "/"))
        assert volume in dict(mounts("pgmon-pgpass"))
        assert service["depends_on"]["pgmon-pgpass"]["condition"] == (
            "service_completed_successfully"
        )
    assert len(names) == 2, "the two targets must be told apart"


def test_compose_pgpass_holds_the_password_of_the_role_pgmon_uses() -> None:
    writer = SERVICES["pgmon-pgpass"]
    [command] = writer["command"]
    path = compose_secrets("pgmon-pgpass")["pgmon-password"]
    user = SERVICES[PGMON_SERVICES[0]]["environment"]["PGUSER"]
    assert path in command and f"*:*:*:{user}:" in command
    # ... into the file the pgmon containers' PGPASSFILE names.
    pgpassfile = Path(SERVICES[PGMON_SERVICES[0]]["environment"]["PGPASSFILE"])
    assert f"> {dict(mounts('pgmon-pgpass'))['pgmon-pgpass']}/{pgpassfile.name} " in command
    assert f"chown {image_uid()}:{image_uid()}" in command and "umask 077" in command
    script = (COMPOSE_DIR / "initdb" / "10-primary.sh").read_text()
    assert f"\\set pgmon_password `cat {compose_secrets('primary')['pgmon-password']}`" in script
    assert f"CREATE ROLE {user} LOGIN PASSWORD :'pgmon_password';" in script
    assert f"GRANT pg_monitor TO {user};" in script
    assert mounted_at("primary", COMPOSE_DIR / "initdb" / "10-primary.sh").startswith(
        "/docker-entrypoint-initdb.d/"
    )


def test_compose_standby_clones_the_primary() -> None:
    script_path = COMPOSE_DIR / "standby-entrypoint.sh"
    done = subprocess.run(["bash", "-n", str(script_path)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    standby = SERVICES["standby"]
    assert standby["entrypoint"] == ["bash", mounted_at("standby", script_path)]
    script = script_path.read_text()
    primary_init = (COMPOSE_DIR / "initdb" / "10-primary.sh").read_text()
    option = dict(re.findall(r"--([\w-]+)=(\S+)", script))
    assert option["host"] == "primary" and "--write-recovery-conf" in script
    assert f"CREATE ROLE {option['username']} LOGIN REPLICATION" in primary_init
    assert f"pg_create_physical_replication_slot('{option['slot']}')" in primary_init
    assert f"host replication {option['username']} all scram-sha-256" in primary_init
    assert compose_secrets("standby")["replication-password"] in script
    assert standby["depends_on"]["primary"]["condition"] == "service_healthy"


def test_compose_prometheus_loads_the_rules_and_scrapes_both_pgmons(tmp_path: Path) -> None:
    flags = dict(arg.split("=", 1) for arg in SERVICES["prometheus"]["command"] if "=" in arg)
    config_path = COMPOSE_DIR / "prometheus.yml"
    assert mounted_at("prometheus", config_path) == flags["--config.file"]
    config = yaml.safe_load(config_path.read_text())
    assert config["rule_files"] == [mounted_at("prometheus", RULES)]
    [alertmanagers] = config["alerting"]["alertmanagers"]
    assert alertmanagers["static_configs"][0]["targets"] == ["alertmanager:9093"]
    assert "127.0.0.1:9093:9093" in SERVICES["alertmanager"]["ports"]
    [job] = config["scrape_configs"]
    assert re.fullmatch(pgmon_down_job_regex(), job["job_name"])
    targets = job["static_configs"][0]["targets"]
    assert targets == [f"{name}:{DEFAULT_PORT}" for name in PGMON_SERVICES]
    assert config["global"]["scrape_interval"] == grafana_time_interval()
    # promtool reads the rule file from where the container has it: point it at the repo's.
    local = tmp_path / "prometheus.yml"
    local.write_text(config_path.read_text().replace(config["rule_files"][0], str(RULES)))
    done = subprocess.run(
        [binary("promtool"), "check", "config", str(local)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_compose_alertmanager_runs_the_repositorys_routing_tree() -> None:
    assert mounted_at("alertmanager", ALERTMANAGER) == "/etc/alertmanager/alertmanager.yml"
    text = ALERTMANAGER.read_text()
    wanted = set(re.findall(r"_file: (\S+)", text))
    assert len(wanted) >= 3
    assert set(compose_secrets("alertmanager").values()) == wanted


def test_compose_grafana_is_provisioned_with_the_dashboards() -> None:
    provider = yaml.safe_load(PROVIDER.read_text())["providers"][0]
    assert mounted_at("grafana", ROOT / "dashboards") == provider["options"]["path"]
    assert mounted_at("grafana", PROVIDER).startswith("/etc/grafana/provisioning/dashboards/")
    local = COMPOSE_DIR / "grafana-datasource.yml"
    assert mounted_at("grafana", local).startswith("/etc/grafana/provisioning/datasources/")
    ours = yaml.safe_load(local.read_text())["datasources"]
    theirs = yaml.safe_load(DATASOURCE.read_text())["datasources"]
    assert ours[0].pop("url") == "http://prometheus:9090"
    theirs[0].pop("url")
    assert ours == theirs
    assert "127.0.0.1:9090:9090" in SERVICES["prometheus"]["ports"]
    secret = SERVICES["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD__FILE"]
    assert secret in compose_secrets("grafana").values()


# --- systemd -----------------------------------------------------------------------------


def unit(path: Path) -> dict[str, dict[str, list[str]]]:
    """Sections of a unit file; a key may repeat (SystemCallFilter=...)."""
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), {})
            continue
        assert current is not None, f"{path}: {line} before any section"
        key, _, value = line.partition("=")
        current.setdefault(key, []).append(value)
    return sections


SERVICE = unit(SYSTEMD / "pgmon.service")["Service"]

HARDENING = {
    "NoNewPrivileges": "yes",
    "ProtectSystem": "strict",
    "ProtectHome": "yes",
    "PrivateTmp": "yes",
    "PrivateDevices": "yes",
    "ProtectKernelTunables": "yes",
    "ProtectKernelModules": "yes",
    "ProtectKernelLogs": "yes",
    "ProtectControlGroups": "yes",
    "LockPersonality": "yes",
    "RestrictRealtime": "yes",
    "RestrictSUIDSGID": "yes",
    "RestrictNamespaces": "yes",
    "CapabilityBoundingSet": "",
    "RestrictAddressFamilies": "AF_INET AF_INET6 AF_UNIX",
    "Restart": "on-failure",
}


def test_systemd_unit_is_hardened() -> None:
    for key, value in HARDENING.items():
        assert SERVICE.get(key) == [value], f"{key}={SERVICE.get(key)}, want {value}"
    assert "@system-service" in SERVICE["SystemCallFilter"]
    assert SERVICE["User"] == ["pgmon"] and "DynamicUser" not in SERVICE
    assert "MemoryDenyWriteExecute" not in SERVICE
    [exec_start] = SERVICE["ExecStart"]
    program, *args = exec_start.split()
    assert program.startswith("/") and program.endswith("/pgmon") and args == ["run"]
    # A configuration error (exit 2) is not retried in a loop.
    assert SERVICE["RestartPreventExitStatus"] == ["2"]


def test_pgmon_accepts_the_systemd_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    [environment_file] = SERVICE["EnvironmentFile"]
    env_file = SYSTEMD / Path(environment_file).name
    assert environment_file == f"/etc/pgmon/{env_file.name}" and env_file.exists()
    env = {}
    for line in env_file.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, value = line.partition("=")
            env[name] = value
    assert set(env) <= LIBPQ_VARIABLES
    assert env["PGPASSWORD"] == PLACEHOLDER
    assert env["PGSSLMODE"] == "verify-full"
    settings_path = dict(e.split("=", 1) for e in SERVICE["Environment"])["PGMON_CONFIG"]
    assert settings_path == f"/etc/pgmon/{Path(settings_path).name}"
    assert SERVICE["ConfigurationDirectory"] == ["pgmon"]
    env["PGMON_CONFIG"] = str(SYSTEMD / Path(settings_path).name)
    clean_environment(monkeypatch, env)
    [target] = build_targets(load_settings())
    assert target.name == "db1.example.com:5432/postgres"


def test_systemd_analyze_accepts_the_unit(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is not installed; `make deps` installs it"
    # verify insists that ExecStart's program exists: put in one that does.
    text = (SYSTEMD / "pgmon.service").read_text()
    [exec_start] = SERVICE["ExecStart"]
    local = tmp_path / "pgmon.service"
    local.write_text(text.replace(exec_start.split()[0], binary("true")))
    done = subprocess.run(
        [analyze, "verify", "--man=no", str(local)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0 and str(local) not in done.stderr, done.stderr
    # Exposure on systemd's scale of 0 to 100 (shown divided by 10): 20 is "OK".
    done = subprocess.run(
        [analyze, "security", "--offline=yes", "--threshold=20", "--no-pager", str(local)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr


# --- everything --------------------------------------------------------------------------

# A password written as a value: SQL literals, URIs with credentials, DSN keywords, YAML or
# env-file assignments of a *PASSWORD* key.
WRITTEN_PASSWORD = [
    re.compile(r"PASSWORD\s+'", re.I),
    re.compile(r"\w+://[^/\s:@]+:[^@\s/]+@"),
    re.compile(r"\bpassword\s*=\s*[^\s'\"]", re.I),
    re.compile(r"^\s*-?\s*\w*PASSWORD\w*\s*[:=]\s*(\S+)", re.I | re.M),
]


def test_no_password_is_written_in_deploy() -> None:
    for path in sorted(DEPLOY.rglob("*")):
        if not path.is_file() or path.parent.name == "secrets":
            continue
        for line in path.read_text().splitlines():
            for pattern in WRITTEN_PASSWORD:
                found = pattern.search(line)
                value = found.group(found.lastindex or 0).strip("'\"") if found else ""
                # A path to a secret, a shell expansion of one, or the placeholder.
                ok = value.startswith(("/", "$")) or value == PLACEHOLDER
                assert not found or ok, f"{path.relative_to(ROOT)}: {line.strip()}"


def test_compose_file_follows_the_compose_specification() -> None:
    """The Compose specification's own JSON schema, as bundled by check-jsonschema (no
    download): catches misspelt keys and wrong value types that plain parsing accepts."""
    done = subprocess.run(
        [
            sys.executable, "-m", "check_jsonschema", "--builtin-schema", "vendor.compose-spec",
            str(COMPOSE_DIR / "compose.yaml"),
        ],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


# --- global view -------------------------------------------------------------------------

GLOBAL_VIEW = DEPLOY / "global-view"


def test_global_view_examples_pass_promtool() -> None:
    for flags, name in ((["--agent"], "agent.yml"), ([], "federation.yml")):
        done = subprocess.run(
            [binary("promtool"), "check", "config", *flags, str(GLOBAL_VIEW / name)],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        assert done.returncode == 0, f"{name}: {done.stdout}{done.stderr}"


def test_federation_selects_the_recording_rules() -> None:
    [job] = yaml.safe_load((GLOBAL_VIEW / "federation.yml").read_text())["scrape_configs"]
    names = [
        found.group(1)
        for selector in job["params"]["match[]"]
        if (found := re.fullmatch(r'\{__name__=~"([^"]+)"\}', selector))
    ]
    groups = yaml.safe_load(RULES.read_text())["groups"]
    recorded = [r["record"] for g in groups for r in g["rules"] if "record" in r]
    assert recorded
    for record in recorded:
        assert any(re.fullmatch(n, record) for n in names), f"{record} is not federated"
