"""The container image, built from the Dockerfile with buildah and run: it starts as the
unprivileged user, has no compiler, answers its health check, and the daemon inside it
monitors a real PostgreSQL over the host's loopback and serves /metrics."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator

import pytest

from monitor import __version__
from tests.container import Container, base_image, build_image, inspect, remove_image
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


def test_daemon_in_the_image_monitors_postgres(container: Container, pg_cluster: Cluster) -> None:
    port = free_port()
    primary = pg_cluster.primary
    env = {
        # A sidecar's whole configuration: libpq's variables and the listen address.
        "PGHOST": "127.0.0.1",
        "PGPORT": str(primary.port),
        "PGUSER": PASSWORD_ROLE,
        "PGPASSWORD": PASSWORD_ROLE_PASSWORD,
        "PGDATABASE": "postgres",
        "PGMON_LISTEN": f"127.0.0.1:{port}",
    }
    with container.background("pgmon", "run", env=env) as daemon:

        def collected() -> Series | None:
            if daemon.poll() is not None:
                raise AssertionError(f"pgmon exited:\n{container.output(daemon)}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as r:
                    series = parse(r.read().decode())
            except OSError:
                return None
            return series if value(series, "pgmon_collector_up", collector="database") else None

        series = wait_for(collected, 60, "the containerised daemon to collect")
        target = f"127.0.0.1:{primary.port}/postgres"
        assert value(series, "pg_up", target=target) == 1
        assert value(series, "pg_stat_database_numbackends", target=target, datname="postgres")
        health = container.run("pgmon", "healthcheck", env={"PGMON_LISTEN": f"0.0.0.0:{port}"})
        assert health.returncode == 0, health.stderr
        assert pgmon_sessions(primary) >= 1
    assert daemon.returncode == 0, container.output(daemon)
    wait_for(lambda: pgmon_sessions(primary) == 0, 10, "pgmon's sessions to close on SIGTERM")


def pgmon_sessions(server: Server) -> int:
    count: int = server.scalar(
        "SELECT count(*) FROM pg_stat_activity WHERE usename = %s AND application_name = 'pgmon'",
        [PASSWORD_ROLE],
    )
    return count
