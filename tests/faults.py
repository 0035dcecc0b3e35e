"""What the fault-injection tests (tests/integration/test_faults*.py) share: pgmon's sessions
as the server sees them, a lock that keeps one collector's statement waiting, the server's
log since a mark, and the daemon's resources as the kernel counts them."""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

import psycopg
from psycopg import sql

from monitor.collectors import ALL
from monitor.db import APPLICATION_NAME
from monitor.pginstance.conf import HOST, SUPERUSER, conf_literal
from monitor.pginstance.osuser import write_server_file
from tests.daemon import Series
from tests.pgserver import MONITOR_ROLE, Server, wait_for_streaming


def every_collector(interval: str = "1s", timeout: str = "1s") -> dict[str, dict[str, str]]:
    """Every collector on a short schedule, so that a fault shows within seconds."""
    return {spec.name: {"interval": interval, "timeout": timeout} for spec in ALL}


def pgmon_sessions(server: Server) -> dict[str, int]:
    """pgmon's sessions on `server`, by database (application_name tells them apart)."""
    rows = server.execute(
        "SELECT datname, count(*)::int FROM pg_stat_activity "
        "WHERE application_name = %s GROUP BY datname",
        [APPLICATION_NAME],
    )
    return {str(datname): int(count) for datname, count in rows}


def pgmon_lock_waiters(server: Server) -> list[int]:
    """pgmon backends waiting for a lock right now."""
    rows = server.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s AND wait_event_type = 'Lock'",
        [APPLICATION_NAME],
    )
    return [int(pid) for (pid,) in rows]


def pgmon_backends(server: Server) -> set[int]:
    """The process ids of pgmon's sessions on `server`."""
    rows = server.execute(
        "SELECT pid FROM pg_stat_activity WHERE application_name = %s", [APPLICATION_NAME]
    )
    return {int(pid) for (pid,) in rows}


@contextmanager
def frozen(pid: int) -> Iterator[None]:
    """A server process stopped (SIGSTOP) until the block ends: it answers nothing, not
    even a cancel request, yet its connection stays open, as with a hung disk or a network
    that drops packets."""
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def collector_values(series: Series, metric: str, target: str) -> dict[str, float]:
    """`metric` of every collector of `target`, by collector name."""
    found: dict[str, float] = {}
    for (name, labels), v in series.items():
        tags = dict(labels)
        if name == metric and tags.get("target") == target:
            found[tags["collector"]] = v
    return found


def all_up(series: Series, target: str) -> bool:
    """Whether every collector of `target` that can work there (see
    pgmon_collector_available) succeeded in its last run."""
    up = collector_values(series, "pgmon_collector_up", target)
    available = collector_values(series, "pgmon_collector_available", target)
    return bool(up) and all(v == 1 for name, v in up.items() if available.get(name) == 1)


def with_datname(series: Series, datname: str) -> list[str]:
    """Names of the series labelled with database `datname`."""
    return sorted({name for (name, labels) in series if dict(labels).get("datname") == datname})


@contextmanager
def sequence_altered(
    server: Server, dbname: str, sequence: str
) -> Iterator[psycopg.Connection[Any]]:
    """An ALTER SEQUENCE left uncommitted. Until the block ends, reading the sequence's last
    value (which the sequences collector does for every sequence it may read) waits for a
    lock, for as long as lock_timeout lets it. The sequence is made here and readable by
    pgmon's role."""
    name = sql.Identifier(sequence)
    server.execute(sql.SQL("DROP SEQUENCE IF EXISTS {}").format(name), dbname=dbname)
    server.execute(sql.SQL("CREATE SEQUENCE {}").format(name), dbname=dbname)
    server.execute(sql.SQL("SELECT nextval({})").format(sql.Literal(sequence)), dbname=dbname)
    server.execute(
        sql.SQL("GRANT SELECT ON SEQUENCE {} TO {}").format(name, sql.Identifier(MONITOR_ROLE)),
        dbname=dbname,
    )
    holder = server.connect(dbname)
    try:
        holder.autocommit = False
        holder.execute(sql.SQL("ALTER SEQUENCE {} RESTART").format(name))
        yield holder
    finally:
        # The server may have been stopped under it: that ended the transaction already.
        with suppress(psycopg.Error):
            holder.rollback()
        holder.close()


class ServerLog:
    """The server's log from the moment this object is made."""

    def __init__(self, server: Server) -> None:
        self._path = server.logfile
        self._offset = self._path.stat().st_size if self._path.exists() else 0

    def text(self) -> str:
        with self._path.open("rb") as log:
            log.seek(self._offset)
            return log.read().decode("utf-8", errors="replace")

    def lines(self, pattern: str, user: str | None = None) -> list[str]:
        """Lines matching `pattern` (a regular expression), of sessions of `user` if given
        (the log_line_prefix of the test servers has `user@database`)."""
        found = re.compile(pattern)
        prefix = None if user is None else f" {user}@"
        return [
            line
            for line in self.text().splitlines()
            if found.search(line) and (prefix is None or prefix in line)
        ]


def resident_bytes(pid: int) -> int:
    """The process's resident set size."""
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for process {pid}")


def open_files(pid: int) -> int:
    """File descriptors the process has open (sockets included)."""
    return len(os.listdir(f"/proc/{pid}/fd"))


def switch_over(primary: Server, standby: Server) -> None:
    """A planned switchover: the primary is shut down cleanly (its last WAL reaches the
    standby first), the standby promoted, and the old primary started again as a standby
    of the new one, following its new timeline."""
    primary.stop(mode="fast")
    standby.execute("SELECT pg_promote()")  # waits until the promotion is done
    conninfo = f"host={HOST} port={standby.port} user={SUPERUSER}"
    settings = primary.datadir / "postgresql.auto.conf"
    write_server_file(
        settings,
        settings.read_text(encoding="utf-8") + f"primary_conninfo = {conf_literal(conninfo)}\n",
    )
    write_server_file(primary.datadir / "standby.signal", "")
    primary.start()
    wait_for_streaming(primary)
