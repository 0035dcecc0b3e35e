"""Connections to monitored servers: one per (target, database), reused, gentle on failure."""

from __future__ import annotations

import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
from psycopg.conninfo import make_conninfo
from psycopg.rows import namedtuple_row

from monitor.logs import SCRUBBER
from monitor.settings import read_password
from monitor.watchdog import WATCHDOG

APPLICATION_NAME = "pgmon"
# What a run whose session was shut down by the watchdog reports.
NOT_ANSWERING = "the server stopped answering: the session was closed past the run's timeout"


class TargetDown(Exception):
    """The server could not be reached; the message is safe to log (no DSN in it)."""


class WaitingToRetry(TargetDown):
    """No attempt was made: the last one failed and the backoff has not run out yet."""


class EndpointBusy(Exception):
    """Another run held the connection for longer than this run's timeout."""


class BudgetExhausted(Exception):
    """Every session the daemon may hold is in use, for longer than this run's timeout."""


class ConnectionBudget:
    """How many sessions the daemon holds, over all targets and databases, and at most how
    many (`limit`; 0: no limit). An endpoint that needs a session at the limit takes the slot
    of the least recently used idle one (closing it); with none idle it waits, up to its run's
    timeout, then fails: a bounded wait, never a hang and never one session too many."""

    def __init__(self, limit: int = 0) -> None:
        self.limit = limit
        # Re-entrant: closing an evicted endpoint releases its slot from inside `acquire`.
        self._cond = threading.Condition(threading.RLock())
        self._open: set[Endpoint] = set()
        self.on_change: list[Callable[[], None]] = []

    @property
    def open(self) -> int:
        with self._cond:
            return len(self._open)

    def acquire(self, endpoint: Endpoint, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                if self.limit <= 0 or len(self._open) < self.limit:
                    self._open.add(endpoint)
                    break
                if self._evict_one(endpoint):
                    continue
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    # Worded without the time waited, which differs from run to run: a
                    # repeated failure reads the same and is logged once.
                    raise BudgetExhausted(
                        f"all {self.limit} connections of max_connections stayed busy "
                        "for the whole run timeout"
                    )
                # Woken when a session ends; the poll covers an idle endpoint made busy and
                # free again before this thread ran.
                self._cond.wait(min(remaining, 0.1))
        self._changed()

    def _evict_one(self, wanting: Endpoint) -> bool:
        for victim in sorted(self._open, key=lambda e: e.last_used):
            if victim is not wanting and victim.close_if_idle():
                return True
        return False

    def release(self, endpoint: Endpoint) -> None:
        with self._cond:
            if endpoint not in self._open:
                return
            self._open.discard(endpoint)
            self._cond.notify_all()
        self._changed()

    def idle(self) -> None:
        """A session ended: a waiting run may now evict it."""
        with self._cond:
            self._cond.notify_all()

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()


@dataclass(frozen=True)
class SessionLimits:
    statement_timeout: float
    lock_timeout: float
    connect_timeout: float
    backoff_max: float


# The timeouts pgmon sets are integers of milliseconds on the server.
_MAX_MS = 2**31 - 1


def _ms(seconds: float) -> str:
    return str(min(_MAX_MS, max(1, int(seconds * 1000))))


class Endpoint:
    """A named connection to one database of one target.

    Runs that share it take turns (the lock), so pgmon never holds more than one session
    per database. After a connection error the session is dropped and the next attempt is
    delayed with exponential backoff, so a server in trouble is not hammered.
    """

    def __init__(
        self,
        conninfo: str,
        limits: SessionLimits,
        budget: ConnectionBudget | None = None,
        password_file: Path | None = None,
    ) -> None:
        self._conninfo = conninfo
        self._password_file = password_file
        self._limits = limits
        self._budget = budget or ConnectionBudget()
        self.last_used = 0.0
        self._closed = False
        self._lock = threading.Lock()
        self._conn: psycopg.Connection[Any] | None = None
        # What the watchdog may shut down: the current session's connection (or the one
        # being set up), guarded by _watched so that it never touches a later session's.
        self._watched = threading.Lock()
        self._opening: psycopg.Connection[Any] | None = None
        self._session_number = 0
        self._statement_timeout = ""  # the current session's, in milliseconds
        self._in_session = False
        self._severed = False
        self._failures = 0
        self._retry_at = 0.0
        self._last_error = ""
        self.server_version = 0
        self.server_version_text = ""
        self.system_identifier = ""

    @property
    def connected(self) -> bool:
        return self._conn is not None and not self._conn.closed

    @contextmanager
    def session(
        self, timeout: float, statement_timeout: float | None = None, wait: float | None = None
    ) -> Iterator[psycopg.Connection[Any]]:
        """The session, read-only and in autocommit, whose statements cannot outlive
        `timeout`, each limited to `statement_timeout` (default: the configured one). A run
        that needs one snapshot over several statements, or a savepoint, opens a transaction
        with `conn.transaction()` and ends it before the session ends. While another run
        holds the session, wait for it up to `wait` (default: `timeout`; 0: not at all)."""
        if not self._lock.acquire(timeout=timeout if wait is None else wait):
            # Without the time waited (the rest of a run's timeout, different every run),
            # so that a repeated failure reads the same and is logged once.
            raise EndpointBusy("connection busy with another run for the whole run timeout")
        watch: int | None = None
        try:
            statement_timeout = min(statement_timeout or self._limits.statement_timeout, timeout)
            with self._watched:
                self._session_number += 1
                number = self._session_number
                self._in_session, self._severed = True, False
            # Its last statement may start just before the run's timeout and take its own
            # statement_timeout: a session still open after both has a server that stopped
            # answering (or it would have ended the statement).
            deadline = time.monotonic() + timeout + statement_timeout + 1.0
            watch = WATCHDOG.watch(deadline, lambda: self._sever(number))
            conn = self._connect(timeout)
            try:
                self._limit_statements(conn, _ms(statement_timeout))
                yield conn
                if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
                    # A transaction left open would hold its snapshot (and locks) until the
                    # next run: a bug to be told of, and a session not to be used again.
                    self._drop()
                    raise RuntimeError("a run left its transaction open")
            except psycopg.OperationalError as exc:
                if conn.closed or conn.broken:
                    self._drop()
                    self._note_failure(self._describe(exc))
                    if self._severed:
                        raise TargetDown(NOT_ANSWERING) from None
                raise
        finally:
            if watch is not None:
                WATCHDOG.forget(watch)
            with self._watched:
                self._in_session = False
            self.last_used = time.monotonic()
            if self._closed:
                self._drop()  # closed while this run held it: close() could not wait
            self._lock.release()
            self._budget.idle()

    def _limit_statements(self, conn: psycopg.Connection[Any], milliseconds: str) -> None:
        """statement_timeout for the session, set only when it changes: statements run in
        autocommit, so a run that needs no transaction sends nothing but its queries."""
        if self._statement_timeout != milliseconds:
            conn.execute(
                "SELECT set_config('statement_timeout', %s, false) AS statement_timeout",
                (milliseconds,),
            )
            self._statement_timeout = milliseconds

    def close_if_idle(self) -> bool:
        """Close the session if no run is using it (for the budget); True if closed."""
        if not self._lock.acquire(blocking=False):
            return False
        try:
            if self._conn is None:
                return False
            self._drop()
            return True
        finally:
            self._lock.release()

    def _connect(self, timeout: float) -> psycopg.Connection[Any]:
        if self._conn is not None and not self._conn.closed:
            return self._conn
        if self._conn is not None:
            self._drop()
        if self._closed:
            raise TargetDown("connection closed: the target was removed")
        wait = self._retry_at - time.monotonic()
        if wait > 0:
            # The same words for every run until the next attempt (not the time left), so
            # that a collector failing on every run is logged once.
            raise WaitingToRetry(f"not reachable, retrying after a pause: {self._last_error}")
        self._budget.acquire(self, timeout)
        try:
            return self._open()
        except BaseException:
            self._budget.release(self)
            raise

    def _password(self) -> str | None:
        """The password from `password_file`, read now: a rotated secret (a Kubernetes
        secret is a file that changes in place) is used from the next connection on."""
        path = self._password_file
        if path is None:
            return None
        try:
            password = read_password(path)
        except OSError as exc:
            problem = f"cannot read it ({exc.strerror or type(exc).__name__})"
        except UnicodeDecodeError:
            problem = "not UTF-8 text"
        except ValueError as exc:
            problem = str(exc)
        else:
            SCRUBBER.add([password])
            return password
        error = f"password_file {path}: {problem}"
        self._note_failure(error)
        raise TargetDown(error)

    def _open(self) -> psycopg.Connection[Any]:
        password = self._password()
        conninfo = self._conninfo
        if password is not None:
            conninfo = make_conninfo(conninfo, password=password)
        try:
            conn = psycopg.connect(
                conninfo,
                application_name=APPLICATION_NAME,
                connect_timeout=max(1, round(self._limits.connect_timeout)),
                row_factory=namedtuple_row,
                autocommit=True,
            )
        except psycopg.Error as exc:
            error = _first_line(exc)
            self._note_failure(error)
            raise TargetDown(error) from None
        self._opening = conn
        try:
            # Every transaction read-only, including the one each statement gets in
            # autocommit. jit off: catalogue queries over tens of thousands of relations get
            # cost estimates in the millions, and compiling them took longer than running
            # them (1.8 s of 2.9 s for the tables query at 20,000 tables).
            conn.execute(
                "SELECT set_config('default_transaction_read_only', 'on', false) AS read_only, "
                "set_config('lock_timeout', %s, false) AS lock_timeout, "
                "set_config('idle_in_transaction_session_timeout', %s, false) AS idle_timeout, "
                "set_config('jit', 'off', false) AS jit",
                (
                    _ms(self._limits.lock_timeout),
                    _ms(max(60.0, self._limits.statement_timeout * 4)),
                ),
            )
            system_identifier = _system_identifier(conn)
        except psycopg.Error as exc:
            conn.close()
            error = f"session set-up failed: {self._describe(exc)}"
            self._note_failure(error)
            raise TargetDown(error) from None
        finally:
            self._opening = None
        self.server_version = conn.info.server_version
        self.server_version_text = conn.info.parameter_status("server_version") or ""
        self.system_identifier = system_identifier
        self._statement_timeout = ""
        self._conn = conn
        self._failures = 0
        self._retry_at = 0.0
        return conn

    def _sever(self, number: int | None = None) -> None:
        """Shut down the socket of session `number` (default: the current one) if it is still
        open: the run waiting on it gets an error at once, goes its usual way for a lost
        connection, and gives the session back."""
        with self._watched:
            if not self._in_session or number not in (None, self._session_number):
                return
            conn = self._conn or self._opening
            if conn is None or conn.closed:
                return
            self._severed = True
            # On a duplicate of the descriptor: closing libpq's own from this thread, while
            # the run's thread uses it, would be unsafe. shutdown() acts on the socket
            # itself, whatever descriptor it is called through.
            with (
                suppress(psycopg.Error, OSError),
                socket.socket(fileno=os.dup(conn.pgconn.socket)) as sock,
            ):
                sock.shutdown(socket.SHUT_RDWR)

    def _describe(self, exc: BaseException) -> str:
        return NOT_ANSWERING if self._severed else _first_line(exc)

    def _note_failure(self, error: str) -> None:
        self._last_error = error
        self._failures += 1
        delay = min(self._limits.backoff_max, 0.5 * 2 ** min(self._failures, 16))
        self._retry_at = time.monotonic() + delay * random.uniform(0.8, 1.0)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with suppress(psycopg.Error):
                conn.close()
            self._budget.release(self)

    def close(self, wait: float = 1.0) -> None:
        """Close the session; a query still running is cancelled rather than waited for
        (the run holding it then closes it on its way out), and if the server does not
        answer the cancel either, the session's socket is shut down."""
        self._closed = True
        if not self._lock.acquire(timeout=wait):
            conn = self._conn
            if conn is not None:
                with suppress(psycopg.Error):
                    conn.cancel_safe(timeout=wait)
            if not self._lock.acquire(timeout=wait):
                # Otherwise the run would keep its scheduler thread, and the process,
                # waiting for an answer that does not come.
                self._sever()
                return
        try:
            self._drop()
        finally:
            self._lock.release()


def _system_identifier(conn: psycopg.Connection[Any]) -> str:
    """Tells a primary and its standbys apart from unrelated servers; '' where hidden."""
    try:
        row = conn.execute(
            "SELECT system_identifier::text AS id FROM pg_control_system()"
        ).fetchone()
    except psycopg.Error:
        return ""
    return str(row[0]) if row else ""


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
