"""End to end: pgmon watching a primary and its standby, scraped by a real Prometheus that
loads our rules and notifies a real Alertmanager routed by alerts/alertmanager.yml, which
posts to a webhook here. Problems are planted for real; alerts must arrive with the right
labels at the right receivers and resolve once the problems are gone, and every query of
every dashboard must be valid and return data against that Prometheus."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
import yaml

from tests.daemon import Daemon, wait_for
from tests.observability import Alertmanager, Prometheus, Webhook, routed_to_webhook
from tests.pgserver import MONITOR_ROLE, Cluster, pause_replay, resume_replay, wait_for_replay
from tests.promql import DASHBOARDS, ROOT, dashboard_queries
from tests.scratchdb import new_database

FAST = {"interval": "1s"}
SLOW = {"interval": "2s"}  # catalog-wide collectors: still fast, but not every second
COLLECTORS = {
    **{name: FAST for name in ("connections", "locks", "sessions", "replication", "server")},
    **{name: FAST for name in ("database", "checkpointer", "wal", "archiver", "statements")},
    **{name: SLOW for name in ("indexes", "tables", "index_catalog", "vacuum", "sequences")},
    "bloat": SLOW,
}
# Low enough for the planted problems to cross them within seconds.
THRESHOLDS = {
    "lock_wait_seconds": 1,
    "idle_in_transaction_seconds": 1,
    "replication_lag_bytes": 1024 * 1024,
    "replication_lag_seconds": 1,
    # pgmon's own sessions always use some connections: both levels fire from the start,
    # and the critical one must inhibit the warning.
    "connections_used_warning": 0.0001,
    "connections_used_critical": 0.0002,
}
PLANTED_ALERTS = {
    ("PostgresBlockedSessions", "primary"),
    ("PostgresIdleInTransaction", "primary"),
    ("PostgresReplicationLagBytes", "standby"),
    ("PostgresReplicationLagSeconds", "standby"),
    ("PostgresInvalidIndex", "primary"),
}


def rules() -> str:
    settings = [f"--set={name}={value}" for name, value in THRESHOLDS.items()]
    done = subprocess.run(
        [sys.executable, "-m", "monitor", "alert-rules", *settings, "--max-for", "2s"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Stack:
    cluster: Cluster
    dbname: str
    daemon: Daemon
    prometheus: Prometheus
    webhook: Webhook
    alertmanager: Alertmanager
    sessions: list[psycopg.Connection[Any]] = field(default_factory=list)
    waiter: threading.Thread | None = None

    def firing(self, receiver: str | None = None) -> set[tuple[str, str]]:
        return {
            (a["labels"]["alertname"], a["labels"].get("target", ""))
            for a in self.webhook.alerts(receiver)
            if a["status"] == "firing"
        }

    def resolved(self) -> set[tuple[str, str]]:
        return {
            (a["labels"]["alertname"], a["labels"].get("target", ""))
            for a in self.webhook.alerts()
            if a["status"] == "resolved"
        }


def plant_catalog_problems(cluster: Cluster, dbname: str) -> None:
    """An invalid, a duplicate and an unused index, and a foreign key without an index."""
    with cluster.primary.connect(dbname) as conn:
        conn.autocommit = True
        for statement in (
            "CREATE TABLE owners (id int PRIMARY KEY)",
            "INSERT INTO owners SELECT generate_series(1, 10)",
            "CREATE TABLE accounts (id int PRIMARY KEY, owner int REFERENCES owners, v int)",
            "INSERT INTO accounts SELECT g, 1 + mod(g, 10), mod(g, 3) FROM "
            "generate_series(1, 20000) g",
            "CREATE INDEX accounts_v ON accounts (v)",
            "CREATE INDEX accounts_v_again ON accounts (v)",
            "CREATE TABLE filler (id int, pad text)",
        ):
            conn.execute(statement)  # type: ignore[arg-type]
        with pytest.raises(psycopg.errors.UniqueViolation):
            conn.execute("CREATE UNIQUE INDEX CONCURRENTLY accounts_v_unique ON accounts (v)")
        conn.execute("SELECT count(*) FROM accounts WHERE id < 100")  # statements traffic


def plant_lock_chain(stack: Stack) -> None:
    """A session idle in a transaction holding a row lock, and a second one waiting on it."""
    holder = stack.cluster.primary.connect(stack.dbname)
    holder.autocommit = False
    holder.execute("UPDATE accounts SET v = v WHERE id = 1")
    stack.sessions.append(holder)

    def wait_behind() -> None:
        with stack.cluster.primary.connect(stack.dbname) as waiter:
            waiter.execute("UPDATE accounts SET v = 2 WHERE id = 1")

    stack.waiter = threading.Thread(target=wait_behind, daemon=True)
    stack.waiter.start()


def plant_replay_lag(cluster: Cluster, dbname: str) -> None:
    wait_for_replay(cluster.primary, cluster.replica)
    pause_replay(cluster.replica)
    with cluster.primary.connect(dbname) as conn:
        conn.execute(
            "INSERT INTO filler SELECT g, repeat('x', 1000) FROM generate_series(1, 6000) g"
        )


def remove_problems(stack: Stack) -> None:
    for session in stack.sessions:
        session.rollback()
        session.close()
    stack.sessions.clear()
    if stack.waiter is not None:
        stack.waiter.join(30)
    resume_replay(stack.cluster.replica)
    with stack.cluster.primary.connect(stack.dbname) as conn:
        conn.autocommit = True
        conn.execute("DROP INDEX CONCURRENTLY IF EXISTS accounts_v_unique")


@pytest.fixture(scope="module")
def stack(pg_cluster: Cluster) -> Iterator[Stack]:
    example = yaml.safe_load((ROOT / "alerts" / "alertmanager.yml").read_text())
    with new_database(pg_cluster.primary, "pgmon_e2e") as dbname:
        plant_catalog_problems(pg_cluster, dbname)
        config = {
            "targets": [
                {"name": "primary", "dsn": pg_cluster.primary.dsn(user=MONITOR_ROLE)},
                {"name": "standby", "dsn": pg_cluster.replica.dsn(user=MONITOR_ROLE)},
            ],
            "collectors": COLLECTORS,
            "findings": {
                "interval": "1s",
                "thresholds": {
                    "unused_index": {"min_size_bytes": 0},
                    "missing_fk_index": {"min_table_size_bytes": 0},
                },
            },
        }
        webhook = Webhook()
        started: list[Any] = [webhook]
        try:
            daemon = Daemon(config).__enter__()
            started.append(daemon)
            alertmanager = Alertmanager(routed_to_webhook(example, webhook))
            started.append(alertmanager)
            prometheus = Prometheus(rules(), daemon.port, alertmanager.port)
            started.append(prometheus)
            stack = Stack(pg_cluster, dbname, daemon, prometheus, webhook, alertmanager)
            try:
                yield stack
            finally:
                remove_problems(stack)
        finally:
            for process in reversed(started):
                process.stop()


@pytest.fixture(scope="module")
def planted(stack: Stack) -> Stack:
    wait_for(
        lambda: stack.prometheus.query('up{job="pgmon"} == 1'), 30, "Prometheus to scrape pgmon"
    )
    plant_lock_chain(stack)
    plant_replay_lag(stack.cluster, stack.dbname)
    return stack


def test_planted_problems_reach_their_receivers(planted: Stack) -> None:
    wait_for(
        lambda: planted.firing() >= PLANTED_ALERTS,
        90,
        f"alerts {sorted(PLANTED_ALERTS)} (firing so far: {sorted(planted.firing())})",
    )
    alerts = planted.webhook.alerts("webhook")
    invalid = [a for a in alerts if a["labels"]["alertname"] == "PostgresInvalidIndex"]
    assert invalid[0]["labels"] | {"severity": "warning"} == invalid[0]["labels"]
    assert invalid[0]["labels"]["object"] == "public.accounts_v_unique"
    assert invalid[0]["labels"]["datname"] == planted.dbname
    assert invalid[0]["annotations"]["runbook_url"].endswith(
        "/docs/runbooks.md#postgresinvalidindex"
    )
    idle = [a for a in alerts if a["labels"]["alertname"] == "PostgresIdleInTransaction"]
    assert {a["labels"]["datname"] for a in idle} == {planted.dbname}
    assert "primary" in idle[0]["annotations"]["description"]
    # Warnings go to the team channel, criticals to on-call; the webhook sees everything.
    assert ("PostgresBlockedSessions", "primary") in planted.firing("team-slack")
    assert ("PostgresBlockedSessions", "primary") not in planted.firing("oncall")
    near_limit = ("PostgresConnectionsNearLimit", "primary")
    assert near_limit in planted.firing("oncall")
    # ...and the critical level inhibits the warning of the same alert and target.
    assert near_limit not in planted.firing("team-slack")
    levels = {
        a["labels"]["severity"]
        for a in planted.webhook.alerts("webhook")
        if (a["labels"]["alertname"], a["labels"]["target"]) == near_limit
    }
    assert levels == {"critical"}


def test_every_dashboard_query_returns_data(planted: Stack) -> None:
    wait_for(
        lambda: planted.prometheus.query('pgmon_finding{check="invalid_index"}'),
        60,
        "the invalid index finding in Prometheus",
    )
    queries = [q for path in DASHBOARDS for q in dashboard_queries(path)]
    assert len(queries) >= 40
    empty: list[str] = []

    def all_answer() -> bool:
        empty.clear()
        empty.extend(
            f"{q.where}: {q.expr}" for q in queries if not planted.prometheus.query(q.expr)
        )
        return not empty

    try:
        wait_for(all_answer, 30, "every dashboard query to return data", every=2)
    except AssertionError:
        raise AssertionError("queries without data:\n" + "\n".join(empty)) from None


def test_alerts_resolve_when_the_problems_are_gone(planted: Stack) -> None:
    wait_for(lambda: planted.firing() >= PLANTED_ALERTS, 90, "the planted alerts to fire")
    remove_problems(planted)
    wait_for(
        lambda: planted.resolved() >= PLANTED_ALERTS,
        90,
        f"resolve notifications (resolved so far: {sorted(planted.resolved())})",
    )
