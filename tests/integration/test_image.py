"""The container image, built from the Dockerfile with buildah and run: it starts as the
unprivileged user, has no compiler, answers its health check, and the daemon inside it,
unprivileged on a read-only root file system, monitors a real PostgreSQL over the host's
loopback and serves /metrics."""

from __future__ import annotations

import base64
import ssl
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor import __version__
from tests.certs import Authority, bcrypt_hash
from tests.container import (
    Container,
    base_image,
    build_image,
    inspect,
    processes,
    remove_image,
    uids,
)
from tests.daemon import Series, free_port, parse, value, wait_for
from tests.pgserver import PASSWORD_ROLE, PASSWORD_ROLE_PASSWORD, Cluster, Server

TAG = "localhost/pgmon:test"
UID = "10001"


@pytest.fixture(scope="module")
def image() -> Iterator[str]:
    """Built once per run and removed afterwards: with vfs storage every image is a full
    copy, and a machine that runs the suite daily must not fill up."""
    remove_image(TAG)
    built = build_image(TAG, base_image())
    try:
        yield TAG
    finally:
        remove_image(built)


@pytest.fixture
def container(image: str) -> Iterator[Container]:
    made = Container(image)
    try:
        yield made
    finally:
        made.remove()


def test_image_configuration(image: str) -> None:
    config = inspect(image)["Docker"]["config"]
    assert config["User"] == f"{UID}:{UID}"
    assert config["Entrypoint"] == ["pgmon", "run"]
    assert "9189/tcp" in config["ExposedPorts"]
    assert config["Healthcheck"]["Test"] == ["CMD", "pgmon", "healthcheck"]
    labels = config["Labels"]
    assert labels["org.opencontainers.image.title"] == "pgmon"
    assert labels["org.opencontainers.image.version"] == __version__


def test_runs_unprivileged_without_compilers(container: Container) -> None:
    assert container.run("id", "-u").stdout.strip() == UID
    version = container.run("pgmon", "--version")
    assert version.returncode == 0, version.stderr
    assert version.stdout.strip() == f"pgmon {__version__}"
    for tool in ("gcc", "cc", "make", "pip"):
        found = container.run("sh", "-c", f"command -v {tool} || true").stdout.strip()
        assert found == "", f"{tool} in the final image: {found}"
    # The user owns nothing outside /tmp, so a read-only root loses nothing.
    owned = container.run("find", "/", "-xdev", "-user", UID, "-not", "-path", "/tmp*")
    assert owned.stdout.strip() == ""


def protection(directory: Path) -> tuple[ssl.SSLContext, str]:
    """A web config file with TLS and basic auth, its certificates and the healthcheck's
    password file, readable by the image's user; a client context and Authorization value."""
    directory.mkdir()
    directory.chmod(0o755)
    authority = Authority(directory)
    authority.issue("server")
    (directory / "web-config.yml").write_text(
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  probe: '{bcrypt_hash('in-the-box')}'\n"
    )
    (directory / "password").write_text("in-the-box\n")
    for path in directory.iterdir():
        path.chmod(0o644)
    context = ssl.create_default_context(cafile=str(authority.ca.cert))
    return context, "Basic " + base64.b64encode(b"probe:in-the-box").decode()


def test_daemon_in_the_image_monitors_postgres(
    container: Container, pg_cluster: Cluster, tmp_path: Path
) -> None:
    """Run as a locked-down deployment runs it: `docker run --read-only --tmpfs /tmp`, or
    Kubernetes' readOnlyRootFilesystem with an emptyDir on /tmp; its endpoints over TLS and
    behind basic auth, from a web config file mounted like a secret."""
    port = free_port()
    primary = pg_cluster.primary
    tls, authorization = protection(tmp_path / "secrets")
    container.share(tmp_path / "secrets", "/etc/pgmon")
    env = {
        # A sidecar's whole configuration: libpq's variables and the listen address.
        "PGHOST": "127.0.0.1",
        "PGPORT": str(primary.port),
        "PGUSER": PASSWORD_ROLE,
        "PGPASSWORD": PASSWORD_ROLE_PASSWORD,
        "PGDATABASE": "postgres",
        "PGMON_LISTEN": f"127.0.0.1:{port}",
        "PGMON_WEB_CONFIG_FILE": "/etc/pgmon/web-config.yml",
        # For the image's HEALTHCHECK, which runs with the container's environment.
        "PGMON_HEALTHCHECK__USERNAME": "probe",
        "PGMON_HEALTHCHECK__PASSWORD_FILE": "/etc/pgmon/password",
    }
    with container.read_only_root(), container.background("pgmon", "run", env=env) as daemon:

        def collected() -> Series | None:
            if daemon.poll() is not None:
                raise AssertionError(f"pgmon exited:\n{container.output(daemon)}")
            request = urllib.request.Request(
                f"https://127.0.0.1:{port}/metrics", headers={"Authorization": authorization}
            )
            try:
                with urllib.request.urlopen(request, timeout=2, context=tls) as r:
                    series = parse(r.read().decode())
            except OSError:
                return None
            return series if value(series, "pgmon_collector_up", collector="database") else None

        series = wait_for(collected, 60, "the containerised daemon to collect")
        target = f"127.0.0.1:{primary.port}/postgres"
        assert value(series, "pg_up", target=target) == 1
        assert value(series, "pg_stat_database_numbackends", target=target, datname="postgres")
        health = container.run("pgmon", "healthcheck", env={**env, "PGMON_LISTEN": f":{port}"})
        assert health.returncode == 0, health.stderr
        assert pgmon_sessions(primary) >= 1

        inside = processes(daemon)
        assert inside, "no process of the container's command found"
        for pid in inside:
            assert 0 not in uids(pid), f"process {pid} runs with UID 0: {uids(pid)}"
            assert uids(pid) == [int(UID)] * 4
        # "Read-only file system", not "Permission denied": the root itself refuses, whoever
        # asks; the daemon keeps serving with nothing writable but the tmpfs on /tmp.
        for path in ("/pgmon-probe", "/opt/pgmon/probe", "/etc/pgmon-probe"):
            written = refused_write(container, path)
            assert written.returncode != 0
            assert "Read-only file system" in written.stderr, written.stderr
        assert container.run("touch", "/tmp/pgmon-probe").returncode == 0
        assert value(collected() or {}, "pg_up", target=target) == 1
    assert daemon.returncode == 0, container.output(daemon)
    wait_for(lambda: pgmon_sessions(primary) == 0, 10, "pgmon's sessions to close on SIGTERM")


def refused_write(container: Container, path: str) -> subprocess.CompletedProcess[str]:
    """`touch path` in the container. Once, on a loaded machine, `buildah run` reported the
    command's failure without any of its output; such a run is asked again."""
    for _ in range(3):
        written = container.run("touch", path)
        if written.returncode == 0 or "touch:" in written.stderr:
            break
    return written


def pgmon_sessions(server: Server) -> int:
    count: int = server.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND application_name = 'pgmon'",
        [PASSWORD_ROLE],
    )
    return count
