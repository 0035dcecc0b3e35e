"""`pgmon run` as a real process against real servers, read over HTTP."""

from __future__ import annotations

import gzip
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.daemon import Daemon, free_port, parse, run_cli, value, wait_for
from tests.leaks import secret
from tests.pgserver import (
    MONITOR_ROLE,
    PASSWORD_ROLE,
    PASSWORD_ROLE_PASSWORD,
    Cluster,
    primary_alone,
)

WRONG_PASSWORD = secret("Wr0ng-but-secret-pw")
FAST = {"interval": "1s", "timeout": "1s"}
ALL_FAST = {
    name: FAST
    for name in (
        "connections",
        "locks",
        "statements",
        "indexes",
        "tables",
        "replication",
        "database",
        "checkpointer",
        "wal",
        "archiver",
    )
}


def monitor_dsn(cluster: Cluster, dbname: str = "postgres") -> str:
    return cluster.primary.dsn(dbname=dbname, user=MONITOR_ROLE)


def test_serves_metrics_scraped_over_http(pg_cluster: Cluster) -> None:
    config = {"targets": [{"name": "primary", "dsn": monitor_dsn(pg_cluster)}]}
    with Daemon(config) as daemon:
        daemon.wait_ready()
        series = daemon.scrape()
        assert value(series, "pg_up", target="primary") == 1
        # Prometheus prefers OpenMetrics; the default answers in text so that counter names
        # stay postgres_exporter's.
        prometheus_accept = "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"
        status, headers, body = daemon.get("/metrics", {"Accept": prometheus_accept})
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert b"\npg_stat_database_deadlocks{" in body
        static = [dict(lbl) for (name, lbl) in series if name == "pg_static"]
        assert len(static) == 1
        assert static[0]["short_version"].startswith(f"{pg_cluster.major}.")
        for collector in ("connections", "locks", "replication", "database"):
            assert value(series, "pgmon_collector_up", target="primary", collector=collector) == 1
            assert value(
                series, "pgmon_collector_last_success_timestamp_seconds", collector=collector
            )
        assert (
            value(series, "pg_stat_activity_count", datname="postgres", state="active") is not None
        )

        status, headers, body = daemon.get("/metrics")
        assert status == 200
        assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
        assert b"# TYPE pg_up gauge" in body

        status, headers, body = daemon.get("/metrics", {"Accept-Encoding": "gzip"})
        assert headers["Content-Encoding"] == "gzip"
        assert b"pg_up{" in gzip.decompress(body)
        assert daemon.get("/healthz")[0] == 200
    assert daemon.proc.returncode == 0


def test_sessions_are_read_only_named_and_one_per_database(pg_cluster: Cluster) -> None:
    extra_db = "pgmon_discovered"
    pg_cluster.primary.execute(f"DROP DATABASE IF EXISTS {extra_db}")  # type: ignore[arg-type]
    pg_cluster.primary.execute(f"CREATE DATABASE {extra_db}")  # type: ignore[arg-type]
    try:
        config = {
            "targets": [{"name": "p", "dsn": monitor_dsn(pg_cluster)}],
            "collectors": ALL_FAST,
        }
        with Daemon(config) as daemon:
            daemon.wait_ready()

            def sessions() -> list[tuple[str, int]]:
                return pg_cluster.primary.execute(  # type: ignore[no-any-return]
                    "SELECT datname, count(*)::int FROM pg_stat_activity "
                    "WHERE application_name = 'pgmon' GROUP BY datname ORDER BY 1"
                )

            seen: dict[str, int] = {}
            for _ in range(15):  # over a few seconds of 1 s collectors
                for datname, count in sessions():
                    seen[datname] = max(seen.get(datname, 0), count)
                wait_for(lambda: True, 0.2, "")
            assert seen.get("postgres") == 1, seen
            assert seen.get(extra_db) == 1, seen  # discovered without being configured
            assert all(count == 1 for count in seen.values()), seen
            series = daemon.scrape()
            assert value(series, "pgmon_collector_up", collector="tables") == 1
    finally:
        wait_for(
            lambda: (
                not pg_cluster.primary.execute(
                    "SELECT 1 FROM pg_stat_activity WHERE datname = 'pgmon_discovered'"
                )
            ),
            10,
            "pgmon sessions to leave the extra database",
        )
        pg_cluster.primary.execute(f"DROP DATABASE IF EXISTS {extra_db}")  # type: ignore[arg-type]


@pytest.fixture
def lone_primary(pg_cluster: Cluster) -> Iterator[Cluster]:
    """A primary of its own, so that stopping it does not disturb the shared cluster."""
    with primary_alone(pg_cluster.installation) as cluster:
        yield cluster


def test_target_outage_and_recovery(lone_primary: Cluster) -> None:
    config = {
        "targets": [{"name": "flaky", "dsn": monitor_dsn(lone_primary)}],
        "collectors": ALL_FAST,
        "reconnect_backoff_max": "1s",
        "connect_timeout": "2s",
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        assert value(daemon.scrape(), "pg_up", target="flaky") == 1

        lone_primary.primary.stop()
        wait_for(lambda: value(daemon.scrape(), "pg_up", target="flaky") == 0, 20, "pg_up 0")
        # Each collector fails at its own next run (runs are spread over the interval).
        series = wait_for(
            lambda: (
                (s := daemon.scrape())
                and value(s, "pgmon_collector_up", collector="connections") == 0
                and s
            ),
            10,
            "the connections collector to fail",
        )
        assert value(series, "pg_stat_activity_count", datname="postgres", state="active") is None
        assert daemon.proc.poll() is None, "pgmon must survive its target going away"
        assert daemon.get("/healthz")[0] == 200

        lone_primary.primary.start()
        wait_for(lambda: value(daemon.scrape(), "pg_up", target="flaky") == 1, 30, "pg_up 1")
        wait_for(
            lambda: value(daemon.scrape(), "pgmon_collector_up", collector="connections") == 1,
            30,
            "connections collector to recover",
        )
        errors = value(daemon.scrape(), "pgmon_collector_errors_total", collector="connections")
        assert errors is not None and errors >= 1
    logs = daemon.logs()
    assert '"event": "target_down"' in logs
    assert '"event": "target_up"' in logs
    assert logs.count('"event": "target_down"') <= 2, "outage must be logged once, not every run"


def test_hourly_collector_runs_as_soon_as_its_target_is_back(lone_primary: Cluster) -> None:
    """Otherwise it would read as failed (and its data as stale) for up to an hour."""
    config = {
        "targets": [{"name": "late", "dsn": monitor_dsn(lone_primary)}],
        "collectors": {**ALL_FAST, "server": {"interval": "1h"}},
        "reconnect_backoff_max": "1s",
        "connect_timeout": "2s",
    }
    lone_primary.primary.stop()
    with Daemon(config) as daemon:
        daemon.wait_ready()
        assert value(daemon.scrape(), "pgmon_collector_up", collector="server") == 0
        lone_primary.primary.start()
        wait_for(lambda: value(daemon.scrape(), "pg_up", target="late") == 1, 30, "pg_up 1")
        wait_for(
            lambda: value(daemon.scrape(), "pgmon_collector_up", collector="server") == 1,
            15,
            "the hourly collector to run after the recovery",
        )


def test_target_down_at_start_up_still_gets_ready() -> None:
    dead = f"postgresql://{MONITOR_ROLE}@127.0.0.1:{free_port()}/postgres?connect_timeout=1"
    with Daemon({"targets": [{"name": "dead", "dsn": dead}]}) as daemon:
        daemon.wait_ready()
        series = daemon.scrape()
        assert value(series, "pg_up", target="dead") == 0
        assert value(series, "pgmon_collector_up", collector="locks") == 0
    assert daemon.proc.returncode == 0


def test_readyz_waits_for_every_target(pg_cluster: Cluster) -> None:
    config = {
        "targets": [{"name": "p", "dsn": monitor_dsn(pg_cluster)}],
        # A first run that cannot start for a while keeps the daemon unready meanwhile.
        "collectors": {"indexes": {"interval": "1h"}},
    }
    with Daemon(config) as daemon:
        status, _, body = daemon.get("/readyz")
        if status == 503:
            assert b"waiting for a first run" in body
        daemon.wait_ready()
        assert daemon.get("/readyz") == (200, daemon.get("/readyz")[1], b"ready\n")


def test_sigint_also_stops_cleanly(pg_cluster: Cluster) -> None:
    import signal

    with Daemon({"targets": [{"name": "p", "dsn": monitor_dsn(pg_cluster)}]}) as daemon:
        daemon.wait_ready()
        assert daemon.stop(signal.SIGINT) == 0


def test_password_never_leaks(pg_cluster: Cluster) -> None:
    good = pg_cluster.primary.dsn(user=PASSWORD_ROLE, password=PASSWORD_ROLE_PASSWORD)
    wrong_password = WRONG_PASSWORD
    bad = pg_cluster.primary.dsn(user=PASSWORD_ROLE, password=wrong_password)
    config = {
        "targets": [{"name": "good", "dsn": good}, {"name": "bad", "dsn": bad}],
        "log_level": "debug",
        "collectors": ALL_FAST,
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        series = daemon.scrape()
        metrics_text = daemon.get("/metrics")[2].decode()
        assert value(series, "pg_up", target="good") == 1
        assert value(series, "pg_up", target="bad") == 0
        assert value(series, "pgmon_collector_up", target="good", collector="connections") == 1
    logs = daemon.logs()
    for password in (PASSWORD_ROLE_PASSWORD, wrong_password):
        assert password not in metrics_text
        assert password not in logs
    assert "password authentication failed" in logs


def test_collect_once_prints_exposition(pg_cluster: Cluster) -> None:
    result = run_cli("collect", "--dsn", monitor_dsn(pg_cluster))
    assert result.returncode == 0, result.stderr
    assert "pg_up{" in result.stdout and "} 1.0" in result.stdout
    assert "pg_locks_count{" in result.stdout


def test_collect_exits_1_when_a_target_is_unreachable(pg_cluster: Cluster) -> None:
    dead = f"host=127.0.0.1 port={free_port()} dbname=postgres user=pgmon connect_timeout=1"
    result = run_cli("collect", "--dsn", monitor_dsn(pg_cluster), "--dsn", dead)
    assert result.returncode == 1
    assert "pg_up{" in result.stdout


def test_pg_monitor_role_is_enough_for_every_collector(pg_cluster: Cluster) -> None:
    result = run_cli("collect", "--dsn", monitor_dsn(pg_cluster))
    assert result.returncode == 0, result.stderr
    from tests.daemon import parse

    series = parse(result.stdout)
    failing = {
        dict(lbl)["collector"]
        for (name, lbl), v in series.items()
        if name == "pgmon_collector_up" and v != 1
    }
    assert not failing, f"collectors failing as a pg_monitor-only role: {failing}\n{result.stderr}"


def test_session_settings(pg_cluster: Cluster) -> None:
    from monitor.db import Endpoint, SessionLimits

    endpoint = Endpoint(
        monitor_dsn(pg_cluster),
        SessionLimits(statement_timeout=5, lock_timeout=0.1, connect_timeout=5, backoff_max=5),
    )
    try:
        with endpoint.session(timeout=2) as conn:
            shown = conn.execute(
                "SELECT current_setting('application_name') AS app, "
                "current_setting('transaction_read_only') AS ro, "
                "current_setting('lock_timeout') AS lock_timeout, "
                "current_setting('statement_timeout') AS statement_timeout, "
                "current_setting('jit') AS jit"
            ).fetchone()
            assert shown is not None
            assert shown.app == "pgmon"
            assert shown.ro == "on"
            assert shown.lock_timeout == "100ms"
            assert shown.statement_timeout == "2s"  # capped by the run's own timeout
            assert shown.jit == "off"
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
                conn.execute("CREATE TABLE pgmon_must_not_create (x int)")
            # Between two statements of a run, the session holds no transaction open.
            between = pg_cluster.primary.execute(
                "SELECT state, xact_start IS NULL FROM pg_stat_activity WHERE pid = %s",
                (conn.info.backend_pid,),
            )
            assert between == [("idle", True)], between
            with pytest.raises(psycopg.errors.ReadOnlySqlTransaction), conn.transaction():
                conn.execute("CREATE TABLE pgmon_must_not_create (x int)")
        # A catalogue-wide collector's own, longer limit, still capped by its run.
        with endpoint.session(timeout=60, statement_timeout=45) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("45s",)
        with endpoint.session(timeout=3, statement_timeout=45) as conn:
            assert conn.execute("SHOW statement_timeout").fetchone() == ("3s",)
    finally:
        endpoint.close()


def test_missing_extension_is_reported_once_and_others_carry_on(pg_cluster: Cluster) -> None:
    dbname = "pgmon_no_pgss"
    pg_cluster.primary.execute(f"DROP DATABASE IF EXISTS {dbname}")  # type: ignore[arg-type]
    pg_cluster.primary.execute(f"CREATE DATABASE {dbname}")  # type: ignore[arg-type]
    try:
        config = {
            "targets": [{"name": "nopgss", "dsn": monitor_dsn(pg_cluster, dbname)}],
            "collectors": {"statements": FAST, "connections": FAST},
        }
        with Daemon(config) as daemon:
            daemon.wait_ready()
            wait_for(
                lambda: (
                    value(daemon.scrape(), "pgmon_collector_up", collector="statements") is not None
                ),
                10,
                "statements to report",
            )
            time.sleep(3)  # several more 1 s runs, which must not log again
            series = daemon.scrape()
            assert value(series, "pgmon_collector_available", collector="statements") == 0
            assert value(series, "pgmon_collector_up", collector="statements") == 0
            assert value(series, "pgmon_collector_errors_total", collector="statements") == 0
            assert value(series, "pgmon_collector_available", collector="connections") == 1
            assert value(series, "pgmon_collector_up", collector="connections") == 1
        logs = daemon.logs()
        assert logs.count('"event": "collector_unavailable"') == 1, logs
    finally:
        pg_cluster.primary.execute(f"DROP DATABASE IF EXISTS {dbname} WITH (FORCE)")  # type: ignore[arg-type]


def test_sidecar_with_only_libpq_environment(pg_cluster: Cluster) -> None:
    env = {
        "PGHOST": "127.0.0.1",
        "PGPORT": str(pg_cluster.primary.port),
        "PGUSER": PASSWORD_ROLE,
        "PGPASSWORD": PASSWORD_ROLE_PASSWORD,
        "PGDATABASE": "postgres",
    }
    with Daemon({}, env=env) as daemon:
        daemon.wait_ready()
        series = daemon.scrape()
        target = f"127.0.0.1:{pg_cluster.primary.port}/postgres"
        assert value(series, "pg_up", target=target) == 1
        assert value(series, "pgmon_collector_up", target=target, collector="locks") == 1
        assert PASSWORD_ROLE_PASSWORD not in daemon.get("/metrics")[2].decode()
    assert PASSWORD_ROLE_PASSWORD not in daemon.logs()


def test_one_unreachable_database_does_not_hide_the_others(pg_cluster: Cluster) -> None:
    primary = pg_cluster.primary
    for name in ("pgmon_open_db", "pgmon_closed_db"):
        primary.execute(f"DROP DATABASE IF EXISTS {name}")  # type: ignore[arg-type]
        primary.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        primary.execute("CREATE TABLE t (id int PRIMARY KEY)", dbname=name)
    primary.execute("REVOKE CONNECT ON DATABASE pgmon_closed_db FROM PUBLIC")
    try:
        config_env = {"PGMON_COLLECTORS": '{"tables": {"enabled": true}}'}
        result = run_cli("collect", "--dsn", monitor_dsn(pg_cluster), env=config_env)
        assert result.returncode == 0, result.stderr
        from tests.daemon import parse

        series = parse(result.stdout)
        assert value(series, "pg_stat_user_tables_n_live_tup", datname="pgmon_open_db") == 0
        assert value(series, "pg_stat_user_tables_n_live_tup", datname="pgmon_closed_db") is None
        assert value(series, "pgmon_collector_up", collector="tables") == 0
        assert value(series, "pgmon_collector_errors_total", collector="tables") == 1
        assert "pgmon_closed_db" in result.stderr
    finally:
        for name in ("pgmon_open_db", "pgmon_closed_db"):
            primary.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def _names_in_two_shards() -> tuple[str, str]:
    """Two target names that hashmod 2 sends to different shards (0, then 1)."""
    from monitor.fleet import shard_of

    candidates = [f"node-{i}" for i in range(20)]
    return (
        next(n for n in candidates if shard_of(n, 2) == 0),
        next(n for n in candidates if shard_of(n, 2) == 1),
    )


def test_two_shards_split_the_targets(pg_cluster: Cluster) -> None:
    first, second = _names_in_two_shards()
    targets = [{"name": n, "dsn": monitor_dsn(pg_cluster)} for n in (second, first)]
    kept: list[set[str]] = []
    for index in range(2):
        config = {"targets": targets, "shard_count": 2, "shard_index": index}
        with Daemon(config) as daemon:
            daemon.wait_ready()
            series = daemon.scrape()
            kept.append({dict(lbl)["target"] for (name, lbl) in series if name == "pg_up"})
            assert value(series, "pgmon_shard_targets", shard_index=str(index)) == 1
    assert kept == [{first}, {second}]


def test_collect_and_check_keep_their_shard_only(pg_cluster: Cluster) -> None:
    import json

    import yaml

    first, second = _names_in_two_shards()
    targets = [{"name": n, "dsn": monitor_dsn(pg_cluster)} for n in (second, first)]
    path = Path(tempfile.mkdtemp()) / "pgmon.yaml"
    path.write_text(yaml.safe_dump({"targets": targets, "shard_count": 2}))
    for index, name in enumerate((first, second)):
        env = {"PGMON_SHARD_INDEX": str(index)}
        result = run_cli("collect", "--config", str(path), env=env)
        assert result.returncode == 0, result.stderr
        up = {dict(lbl)["target"] for (n, lbl) in parse(result.stdout) if n == "pg_up"}
        assert up == {name}
        result = run_cli("check", "--config", str(path), "--format", "json", env=env)
        assert result.returncode in (0, 1, 2), result.stderr  # 3: a target unreachable
        assert {f["target"] for f in json.loads(result.stdout)} <= {name}


def test_shard_index_out_of_range_exits_2(pg_cluster: Cluster) -> None:
    result = run_cli("validate-config", env={"PGMON_SHARD_COUNT": "2", "PGMON_SHARD_INDEX": "2"})
    assert result.returncode == 2
    assert "shard_index 2 must be below shard_count 2" in result.stderr


def test_sighup_reloads_targets_without_a_gap(pg_cluster: Cluster) -> None:
    import signal

    import yaml

    # a watches the replica, so that its sessions can be told apart from b's and c's.
    dsns = {
        "a": pg_cluster.replica.dsn(user=MONITOR_ROLE),
        "b": monitor_dsn(pg_cluster),
        "c": monitor_dsn(pg_cluster),
    }

    def config(*names: str) -> dict[str, object]:
        return {
            "targets": [{"name": n, "dsn": dsns[n]} for n in names],
            "collectors": ALL_FAST,
        }

    with Daemon(config("a", "b")) as daemon:
        daemon.wait_ready()
        listen = yaml.safe_load(daemon.config_path.read_text())["listen"]
        series = daemon.scrape()
        assert value(series, "pg_up", target="a") == 1
        assert value(series, "pg_up", target="b") == 1
        assert _pgmon_backend_pids(pg_cluster.replica)
        b_sessions = _pgmon_backend_pids(pg_cluster.primary)

        daemon.config_path.write_text(yaml.safe_dump({"listen": listen, **config("b", "c")}))
        daemon.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            series = daemon.scrape()
            # b never disappears, not even for one scrape, while the reload happens.
            assert value(series, "pg_up", target="b") == 1
            assert value(series, "pgmon_collector_up", target="b", collector="locks") is not None
            if (
                value(series, "pg_up", target="a") is None
                and value(series, "pgmon_collector_up", target="c", collector="locks") == 1
            ):
                break
            time.sleep(0.05)
        else:
            raise AssertionError(f"reload did not take effect; log:\n{daemon.logs()}")
        assert not [key for key in series if dict(key[1]).get("target") == "a"]
        daemon.wait_ready()
        wait_for(lambda: not _pgmon_backend_pids(pg_cluster.replica), 10, "a's sessions to close")
        # b kept its sessions (c opened its own besides them).
        assert b_sessions <= _pgmon_backend_pids(pg_cluster.primary)

        daemon.config_path.write_text("targets: [unclosed\n")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: '"event": "reload_failed"' in daemon.logs(), 10, "reload_failed")
        time.sleep(2)
        series = daemon.scrape()
        assert daemon.proc.poll() is None
        assert value(series, "pg_up", target="b") == 1
        assert value(series, "pg_up", target="c") == 1
        wait_for(
            lambda: (
                (
                    value(
                        daemon.scrape(),
                        "pgmon_collector_last_success_timestamp_seconds",
                        target="c",
                        collector="locks",
                    )
                    or 0
                )
                > time.time() - 3
            ),
            10,
            "c to keep collecting",
        )
    logs = daemon.logs()
    assert logs.count('"event": "reload_failed"') == 1
    assert "not valid YAML" in logs
    assert '"event": "reloaded"' in logs


def _pgmon_backend_pids(server: Any) -> set[int]:
    rows = server.execute("SELECT pid FROM pg_stat_activity WHERE application_name = 'pgmon'")
    return {int(row[0]) for row in rows}


def test_connection_budget_caps_sessions(pg_cluster: Cluster) -> None:
    primary = pg_cluster.primary
    names = [f"pgmon_budget_{i}" for i in range(5)]
    for name in names:
        primary.execute(f"DROP DATABASE IF EXISTS {name}")  # type: ignore[arg-type]
        primary.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        primary.execute("CREATE TABLE t (id int PRIMARY KEY)", dbname=name)
    slow = {"interval": "2s", "timeout": "2s"}
    try:
        config = {
            "targets": [
                {
                    "name": "p",
                    "dsn": monitor_dsn(pg_cluster),
                    "databases": {"include": ["pgmon_budget_*"]},
                }
            ],
            "collectors": {**ALL_FAST, "tables": slow, "indexes": slow},
            "max_connections": 2,
        }
        with Daemon(config) as daemon:
            daemon.wait_ready()
            most = 0
            seen: set[str] = set()
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                most = max(most, len(_pgmon_backend_pids(pg_cluster.primary)))
                series = daemon.scrape()
                assert (value(series, "pgmon_connections_open") or 0) <= 2
                seen |= {
                    dict(lbl)["datname"]
                    for (name, lbl) in series
                    if name == "pg_stat_user_tables_n_live_tup"
                }
                if seen >= set(names) and time.monotonic() > deadline - 20:
                    break
                time.sleep(0.05)
            assert most <= 2, most
            assert seen >= set(names), seen
            series = daemon.scrape()
            assert value(series, "pgmon_connections_max") == 2
            assert value(series, "pg_up", target="p") == 1
    finally:
        for name in names:
            primary.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


def test_thirty_targets_share_a_budget_of_eight_sessions(pg_cluster: Cluster) -> None:
    """A fleet file: 30 targets with 3 databases each, one daemon, max_connections 8."""
    from monitor.collectors import ALL

    primary = pg_cluster.primary
    names = [f"pgmon_fleet_{i}" for i in range(3)]
    for name in names:
        primary.execute(f"DROP DATABASE IF EXISTS {name}")  # type: ignore[arg-type]
        primary.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
        primary.execute("CREATE TABLE t (id int PRIMARY KEY)", dbname=name)
    targets = [f"node-{i:02}" for i in range(30)]
    collectors: dict[str, Any] = {spec.name: {"enabled": False} for spec in ALL}
    collectors["connections"] = {"interval": "2s", "timeout": "2s"}
    collectors["tables"] = {"enabled": True, "interval": "3s", "timeout": "3s"}
    config = {
        "targets": [
            {
                "name": target,
                "dsn": monitor_dsn(pg_cluster),
                "databases": {"include": ["pgmon_fleet_*"]},
            }
            for target in targets
        ],
        "collectors": collectors,
        "max_connections": 8,
    }
    try:
        with Daemon(config) as daemon:
            daemon.wait_ready(timeout=60)
            most = 0
            covered: set[tuple[str, str]] = set()
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and len(covered) < 90:
                most = max(most, len(_pgmon_backend_pids(primary)))
                series = daemon.scrape()
                covered |= {
                    (dict(lbl)["target"], dict(lbl)["datname"])
                    for (name, lbl) in series
                    if name == "pg_stat_user_tables_n_live_tup"
                }
                time.sleep(0.1)
            assert most <= 8, most
            assert covered == {(t, n) for t in targets for n in names}
            series = daemon.scrape()
            assert all(value(series, "pg_up", target=t) == 1 for t in targets)
            assert (value(series, "pgmon_connections_open") or 0) <= 8
    finally:
        for name in names:
            primary.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]
