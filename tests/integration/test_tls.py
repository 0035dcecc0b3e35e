"""TLS to the monitored server: libpq's ssl* parameters pass through from the DSN.

A server of its own per major version, with `ssl = on`, a certificate made here, and a
pg_hba.conf that refuses every TCP connection without TLS: one role logs in with a client
certificate (`cert`), the password role with its password over TLS.
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.collectors import ALL
from tests.certs import Authority
from tests.daemon import Daemon, run_cli, value, wait_for
from tests.pgserver import (
    HOST,
    PASSWORD_ROLE,
    PASSWORD_ROLE_PASSWORD,
    Cluster,
    Installation,
    Server,
)

CERT_ROLE = "pgmon_cert"
FAST = {"interval": "2s", "timeout": "2s"}
# Two collectors show a working session; the others off, for a quicker start.
COLLECTORS = {spec.name: {"enabled": False} for spec in ALL} | {
    "connections": FAST,
    "database": FAST,
}


@dataclass(frozen=True)
class TlsServer:
    server: Server
    root_cert: Path  # the CA that signed the server's certificate
    other_ca: Path  # a CA that did not
    client_cert: Path  # for CERT_ROLE
    client_key: Path

    def dsn(self, user: str, root_cert: Path | None = None, **extra: str) -> str:
        params = {
            "host": HOST,
            "port": str(self.server.port),
            "dbname": "postgres",
            "user": user,
            "sslmode": "verify-full",
            "sslrootcert": str(root_cert or self.root_cert),
            **extra,
        }
        return " ".join(f"{key}={value}" for key, value in params.items())


def built_with_ssl(installation: Installation) -> bool:
    """Whether the server can do TLS at all: a build configured without OpenSSL (the
    PostgreSQL 18 wheel, for one) refuses `ssl = on`. A missing pg_config fails the test."""
    configure = subprocess.run(
        [installation.tool("pg_config"), "--configure"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return "--with-openssl" in configure or "--with-ssl=openssl" in configure


@pytest.fixture(scope="module")
def tls(pg_cluster: Cluster) -> Iterator[TlsServer]:
    installation = pg_cluster.installation
    if not built_with_ssl(installation):
        pytest.skip(
            f"PostgreSQL {installation.major} in {installation.bindir} ({installation.source})"
            " was built without SSL support"
        )
    client_dir = Path(tempfile.mkdtemp(prefix="pgmon-tls-client-"))
    ca = Authority(client_dir)
    server_pair = ca.issue("localhost")
    cluster = Cluster(
        installation,
        with_replica=False,
        settings={
            "ssl": "on",
            "ssl_cert_file": "'server.crt'",
            "ssl_key_file": "'server.key'",
            "ssl_ca_file": "'root.crt'",
        },
        hba_before=[
            f"hostnossl all          all           {HOST}/32    reject",
            f"hostssl   all          {CERT_ROLE:<13} {HOST}/32    cert",
        ],
        files={
            "server.crt": server_pair.cert.read_text(),
            "server.key": server_pair.key.read_text(),
            "root.crt": ca.ca.cert.read_text(),
        },
    )
    try:
        cluster.start()
        cluster.primary.execute(f"CREATE ROLE {CERT_ROLE} LOGIN")  # type: ignore[arg-type]
        cluster.primary.execute(f"GRANT pg_monitor TO {CERT_ROLE}")  # type: ignore[arg-type]
        client = ca.issue(CERT_ROLE, client=True)
        yield TlsServer(
            server=cluster.primary,
            root_cert=ca.ca.cert,
            other_ca=Authority(client_dir, "some other CA").ca.cert,
            client_cert=client.cert,
            client_key=client.key,
        )
    finally:
        cluster.cleanup()
        for path in client_dir.iterdir():
            path.unlink()
        client_dir.rmdir()


@pytest.fixture(scope="module")
def daemon(tls: TlsServer) -> Iterator[Daemon]:
    """One pgmon watching the server four ways: two that must work, two that must not."""
    password = tls.dsn(PASSWORD_ROLE, password=PASSWORD_ROLE_PASSWORD)
    certificate = tls.dsn(CERT_ROLE, sslcert=str(tls.client_cert), sslkey=str(tls.client_key))
    wrong_ca = tls.dsn(PASSWORD_ROLE, tls.other_ca, password=PASSWORD_ROLE_PASSWORD)
    plaintext = tls.dsn(PASSWORD_ROLE, password=PASSWORD_ROLE_PASSWORD, sslmode="disable")
    config = {
        "targets": [
            {"name": "password", "dsn": password},
            {"name": "certificate", "dsn": certificate},
            {"name": "wrong-ca", "dsn": wrong_ca},
            {"name": "plaintext", "dsn": plaintext},
        ],
        "collectors": COLLECTORS,
    }
    with Daemon(config) as running:
        running.wait_ready()
        yield running


def ssl_sessions(server: Server, user: str) -> list[tuple[bool, str | None]]:
    """(ssl, client_dn) of pgmon's sessions as `user`, as the server sees them."""
    rows = server.execute(
        "SELECT s.ssl, s.client_dn FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) "
        "WHERE a.application_name = 'pgmon' AND a.usename = %s",
        [user],
    )
    return [(bool(ssl), dn) for ssl, dn in rows]


def target_down_errors(daemon: Daemon, target: str) -> list[str]:
    errors = []
    for line in daemon.logs().splitlines():
        if line.startswith("{"):
            event = json.loads(line)
            if event.get("event") == "target_down" and event.get("target") == target:
                errors.append(event["error"])
    return errors


def test_password_over_verified_tls(daemon: Daemon, tls: TlsServer) -> None:
    assert value(daemon.scrape(), "pg_up", target="password") == 1
    sessions = ssl_sessions(tls.server, PASSWORD_ROLE)
    assert sessions and all(ssl for ssl, _ in sessions), sessions


def test_client_certificate(daemon: Daemon, tls: TlsServer) -> None:
    assert value(daemon.scrape(), "pg_up", target="certificate") == 1
    sessions = ssl_sessions(tls.server, CERT_ROLE)
    assert sessions, "no pgmon session as the certificate's role"
    for ssl, client_dn in sessions:
        assert ssl
        assert client_dn == f"/CN={CERT_ROLE}"


def test_server_certificate_from_another_ca_is_refused(daemon: Daemon) -> None:
    assert value(daemon.scrape(), "pg_up", target="wrong-ca") == 0
    errors = wait_for(lambda: target_down_errors(daemon, "wrong-ca"), 10, "target_down")
    assert "certificate verify failed" in errors[0], errors


def test_the_server_refuses_plaintext(daemon: Daemon) -> None:
    """pg_up 1 above means TLS: this server lets no one in without it."""
    assert value(daemon.scrape(), "pg_up", target="plaintext") == 0
    errors = wait_for(lambda: target_down_errors(daemon, "plaintext"), 10, "target_down")
    assert "no encryption" in errors[0], errors


def test_collect_names_the_tls_problem(tls: TlsServer) -> None:
    wrong_ca = tls.dsn(PASSWORD_ROLE, tls.other_ca, password=PASSWORD_ROLE_PASSWORD)
    result = run_cli("collect", "--dsn", wrong_ca)
    assert result.returncode == 1, result.stderr
    assert "certificate verify failed" in result.stderr
