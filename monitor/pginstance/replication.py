"""Streaming replicas of a throwaway primary, and lag made to order (paused replay)."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from monitor.pginstance.conf import DEFAULT_TIMEOUT, HOST, SUPERUSER
from monitor.pginstance.errors import WaitTimeout
from monitor.pginstance.osuser import poll
from monitor.pginstance.server import Server


def wait_for_streaming(replica: Server, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until ``replica`` is in recovery and its WAL receiver is streaming."""

    def streaming() -> bool | None:
        rows = replica.execute(
            "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"
        )
        return True if rows[0] == (True, "streaming") else None

    try:
        poll(streaming, timeout, f"{replica!r} to stream from its primary")
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc}\n--- {replica.logfile} ---\n{replica.log_tail(30)}") from None


def make_replica(
    primary: Server,
    slot_name: str,
    datadir: Path | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> Server:
    """Create, start and return a streaming replica of ``primary``.

    Uses a physical replication slot ``slot_name`` (created here) so the
    primary keeps WAL for the replica however far it falls behind, e.g. while
    replay is paused.  The data directory defaults to ``<slot_name>`` next to
    the primary's.  A superuser password travels into the replica's
    primary_conninfo (in its data directory, which only the server user reads).
    """
    datadir = datadir if datadir is not None else primary.datadir.with_name(slot_name)
    replica = Server(primary.installation, datadir, password=primary.password)
    primary.execute("SELECT pg_create_physical_replication_slot(%s, true)", [slot_name])
    env = {"PGPASSWORD": primary.password} if primary.password is not None else {}
    try:
        replica.run_tool(
            "pg_basebackup",
            "--host", HOST,
            "--port", str(primary.port),
            "--username", SUPERUSER,
            "--pgdata", datadir,
            "--write-recovery-conf",  # standby.signal + primary_conninfo
            "--slot", slot_name,
            "--wal-method", "stream",
            "--checkpoint", "fast",  # don't wait for a spread checkpoint
            "--no-sync",
            env=env,
        )  # fmt: skip
        # The copied postgresql.conf still includes the primary's port etc.
        replica.write_server_conf()
        replica.start(timeout=timeout)
        wait_for_streaming(replica, timeout)
    except BaseException:
        replica.kill()
        with contextlib.suppress(psycopg.Error):
            primary.execute("SELECT pg_drop_replication_slot(%s)", [slot_name])
        raise
    return replica


def pause_replay(replica: Server) -> None:
    """Ask the replica to pause WAL replay (WAL keeps being received).

    The pause takes effect before the next WAL record is replayed; until WAL
    arrives ``pg_get_wal_replay_pause_state()`` may say 'pause requested'.
    """
    replica.execute("SELECT pg_wal_replay_pause()")


def resume_replay(replica: Server) -> None:
    replica.execute("SELECT pg_wal_replay_resume()")


def _current_wal_position(primary: Server) -> str:
    """The end of all WAL the primary has generated so far, made streamable."""
    with primary.connect() as conn:
        # The insert position, not pg_current_wal_lsn() (the write position):
        # with synchronous_commit=off a transaction that has just committed
        # may not be written out yet, and it must count as "current".
        row = conn.execute("SELECT pg_current_wal_insert_lsn()::text").fetchone()
        assert row is not None
        # Only flushed WAL is streamed, and the WAL writer does not flush a
        # partial page holding no commit (e.g. hint-bit images with data
        # checksums on), so that could take until the next checkpoint.  A
        # synchronous commit flushes everything up to and including itself.
        conn.execute("SET synchronous_commit = on")
        conn.execute("SELECT pg_current_xact_id()")  # needs an xid to write a commit record
        target: str = row[0]
        return target


def _wait_for_lsn(primary: Server, replica: Server, function: str, timeout: float) -> str:
    target = _current_wal_position(primary)
    # ``function`` is one of two fixed names chosen below, never user input.
    query = sql.SQL("SELECT {}() >= %s::pg_lsn, {}()::text").format(
        sql.Identifier(function), sql.Identifier(function)
    )
    last: list[Any] = [None]

    def reached() -> bool | None:
        done, last[0] = replica.execute(query, [target])[0]
        return True if done else None

    try:
        poll(reached, timeout, f"{replica!r} {function}() to reach {target}")
    except WaitTimeout as exc:
        raise WaitTimeout(f"{exc} (still at {last[0]})") from None
    return target


def wait_for_receive(primary: Server, replica: Server, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Wait until the replica has received (not necessarily replayed) all WAL the
    primary has generated so far; returns that primary LSN.

    Note: this commits a tiny transaction on the primary (see _current_wal_position).
    """
    return _wait_for_lsn(primary, replica, "pg_last_wal_receive_lsn", timeout)


def wait_for_replay(primary: Server, replica: Server, timeout: float = DEFAULT_TIMEOUT) -> str:
    """Wait until the replica has replayed all WAL the primary has generated so
    far; returns that primary LSN.

    Note: this commits a tiny transaction on the primary (see _current_wal_position).
    """
    return _wait_for_lsn(primary, replica, "pg_last_wal_replay_lsn", timeout)
