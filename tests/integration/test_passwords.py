"""Where pgmon's password comes from, and the ways a password could escape.

pg_hba.conf makes PASSWORD_ROLE authenticate with scram-sha-256, so a session as that role
proves the password was right. Every password here is registered with tests.leaks: the
outputs of these runs (meant to fail in every way a password could be echoed) are checked
for them at the end of the session, as well as by the assertions here.
"""

from __future__ import annotations

import json
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from psycopg import sql

from monitor.collectors import ALL
from tests.daemon import Daemon, free_port, run_cli, value, wait_for
from tests.leaks import secret
from tests.pgserver import HOST, PASSWORD_ROLE, PASSWORD_ROLE_PASSWORD, Cluster, Server

ROTATED_PASSWORD = secret("R0tated-pw-for-tests-3Jd8")
WRONG_PASSWORD = secret("Wr0ng-pw-in-a-file-9Tx4")
UNREACHABLE_PASSWORD = secret("Unreachable-pw-for-tests-5Wm1")
FAST = {"interval": "1s", "timeout": "1s"}
ONLY_CONNECTIONS = {spec.name: {"enabled": False} for spec in ALL} | {"connections": FAST}


@pytest.fixture
def workdir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="pgmon-passwords-") as directory:
        yield Path(directory)


def private_file(path: Path, text: str) -> Path:
    path.write_text(text)
    path.chmod(0o600)  # libpq ignores a passfile that others may read
    return path


def no_password_dsn(server: Server) -> str:
    return f"host={HOST} port={server.port} dbname=postgres user={PASSWORD_ROLE}"


def pgmon_sessions(server: Server) -> set[int]:
    rows = server.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = 'pgmon' AND usename = %s",
        [PASSWORD_ROLE],
    )
    return {int(pid) for (pid,) in rows}


def set_password(server: Server, password: str) -> None:
    server.execute(
        sql.SQL("ALTER ROLE {} PASSWORD {}").format(
            sql.Identifier(PASSWORD_ROLE), sql.Literal(password)
        )
    )


def target_down_errors(daemon: Daemon) -> list[str]:
    return [
        event["error"]
        for event in (
            json.loads(line) for line in daemon.logs().splitlines() if line.startswith("{")
        )
        if event.get("event") in ("target_down", "target_still_down")
    ]


@pytest.mark.parametrize("source", ["PGPASSWORD", "passfile", "PGPASSFILE", "password_file"])
def test_password_sources(pg_cluster: Cluster, workdir: Path, source: str) -> None:
    primary = pg_cluster.primary
    dsn = no_password_dsn(primary)
    passfile = private_file(
        workdir / "pgpass", f"{HOST}:{primary.port}:*:{PASSWORD_ROLE}:{PASSWORD_ROLE_PASSWORD}\n"
    )
    secret_file = private_file(workdir / "password", PASSWORD_ROLE_PASSWORD + "\n")
    env: dict[str, str] = {}
    args = ["--dsn", dsn]
    if source == "PGPASSWORD":
        env["PGPASSWORD"] = PASSWORD_ROLE_PASSWORD
    elif source == "passfile":
        args = ["--dsn", f"{dsn} passfile={passfile}"]
    elif source == "PGPASSFILE":
        env["PGPASSFILE"] = str(passfile)
    else:
        env["PGMON_PASSWORD_FILE"] = str(secret_file)
    result = run_cli("collect", *args, env=env)
    assert result.returncode == 0, result.stderr
    assert f'pg_up{{target="{HOST}:{primary.port}/postgres"}} 1.0' in result.stdout


def test_without_a_password_the_role_is_refused(pg_cluster: Cluster) -> None:
    """What makes the test above meaningful: the password came from the source."""
    refused = run_cli("collect", "--dsn", no_password_dsn(pg_cluster.primary))
    assert refused.returncode == 1
    assert "no password supplied" in refused.stderr


def test_password_file_is_read_again_on_reconnection(pg_cluster: Cluster, workdir: Path) -> None:
    primary = pg_cluster.primary
    secret_file = private_file(workdir / "password", PASSWORD_ROLE_PASSWORD + "\n")
    config = {
        "targets": [{"name": "p", "dsn": no_password_dsn(primary)}],
        "password_file": str(secret_file),
        "collectors": ONLY_CONNECTIONS,
        "reconnect_backoff_max": "1s",
    }
    try:
        with Daemon(config) as daemon:
            daemon.wait_ready()
            assert value(daemon.scrape(), "pg_up", target="p") == 1
            first = pgmon_sessions(primary)
            assert first

            # The secret is rotated: the server first, then the mounted file.
            set_password(primary, ROTATED_PASSWORD)
            private_file(secret_file, ROTATED_PASSWORD)
            primary.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid", [list(first)]
            )
            wait_for(
                lambda: (
                    (pgmon_sessions(primary) - first)
                    and value(daemon.scrape(), "pg_up", target="p") == 1
                ),
                20,
                "a new session with the rotated password",
            )

            # A wrong password in the file: down, and the log says why, without it.
            private_file(secret_file, WRONG_PASSWORD + "\n")
            primary.execute(
                "SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) pid",
                [list(pgmon_sessions(primary))],
            )
            wait_for(lambda: value(daemon.scrape(), "pg_up", target="p") == 0, 20, "pg_up 0")
            # The session ended first (AdminShutdown); then the password was refused.
            wait_for(
                lambda: any(
                    "password authentication failed" in e for e in target_down_errors(daemon)
                ),
                20,
                "the refused password in the log",
            )

            # The file disappears: the message names it.
            secret_file.unlink()
            wait_for(
                lambda: any("cannot read it" in e for e in target_down_errors(daemon)),
                20,
                "the unreadable password_file in the log",
            )
            logs = daemon.logs()
    finally:
        set_password(primary, PASSWORD_ROLE_PASSWORD)
    assert f"password_file {secret_file}: cannot read it (No such file or directory)" in logs
    for password in (PASSWORD_ROLE_PASSWORD, ROTATED_PASSWORD, WRONG_PASSWORD):
        assert password not in logs


def test_unreachable_server_with_a_password_in_the_dsn(pg_cluster: Cluster) -> None:
    port = free_port()
    dsn = f"postgresql://{PASSWORD_ROLE}:{UNREACHABLE_PASSWORD}@{HOST}:{port}/postgres"
    collected = run_cli("collect", "--dsn", dsn + "?connect_timeout=1")
    assert collected.returncode == 1
    assert "Connection refused" in collected.stderr
    checked = run_cli("check", "--dsn", dsn + "?connect_timeout=1")
    assert checked.returncode == 3  # UNKNOWN: the target could not be checked
    config = {
        "targets": [{"name": "gone", "dsn": dsn}],
        "collectors": ONLY_CONNECTIONS,
        "connect_timeout": "1s",
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        assert value(daemon.scrape(), "pg_up", target="gone") == 0
        bodies = [daemon.get(path)[2].decode() for path in ("/metrics", "/findings", "/readyz")]
    outputs = [collected.stdout, collected.stderr, checked.stdout, checked.stderr, daemon.logs()]
    for output in outputs + bodies:
        assert UNREACHABLE_PASSWORD not in output
