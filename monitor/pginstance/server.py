"""One throwaway PostgreSQL server: initdb, configuration, start and stop, clients."""

from __future__ import annotations

import contextlib
import re
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, LiteralString
from urllib.parse import quote

import psycopg
from psycopg import sql

from monitor.pginstance.conf import (
    DEFAULT_TIMEOUT,
    HOST,
    SUPERUSER,
    free_port,
    write_cluster_conf,
    write_server_conf,
)
from monitor.pginstance.errors import PgServerError, ServerStartError
from monitor.pginstance.install import Installation
from monitor.pginstance.osuser import run, write_server_file

# Messages the postmaster logs when its port was taken between our probe and
# its bind() (another process won the race).
_PORT_CONFLICT = re.compile(
    r"could not bind IPv4 address|Address already in use|could not create any TCP/IP sockets"
)

# What Server.execute() accepts: static SQL text or psycopg.sql compositions.
Query = LiteralString | sql.SQL | sql.Composed


def _last_lines(text: str, n: int) -> str:
    return "\n".join(text.splitlines()[-n:])


# Servers started and not yet stopped, so that an aborted process does not
# leave postmasters behind (see monitor.pginstance.cluster).
RUNNING: set[Server] = set()


class Server:
    """One PostgreSQL instance in ``datadir``, listening on 127.0.0.1:``port``.

    The log goes to ``<datadir>.log`` next to the data directory, not inside
    it, so that pg_basebackup does not copy a primary's log into its replica.
    Unix sockets go into the data directory's parent (private to the server
    user); clients should connect over TCP, e.g. with :meth:`dsn`.  ``password``
    is the superuser's: set by :meth:`init_primary` and used by :meth:`connect`.
    """

    def __init__(
        self,
        installation: Installation,
        datadir: Path,
        port: int | None = None,
        *,
        password: str | None = None,
    ) -> None:
        self.installation = installation
        self.datadir = datadir
        self.logfile = datadir.with_name(datadir.name + ".log")
        self.password = password
        # Only ports we picked ourselves may be changed on a bind conflict.
        self._port_is_ours = port is None
        self._port = free_port() if port is None else port

    def __repr__(self) -> str:
        return f"<Server pg{self.major} {self.datadir} port={self._port}>"

    @property
    def port(self) -> int:
        return self._port

    @property
    def major(self) -> str:
        return self.installation.major

    @property
    def name(self) -> str:
        return self.datadir.name

    @property
    def pid(self) -> int | None:
        """The postmaster's PID from postmaster.pid, while it has one."""
        try:
            first = (self.datadir / "postmaster.pid").read_text(encoding="utf-8").split("\n")[0]
        except OSError:
            return None
        return int(first) if first.strip().isdigit() else None

    # -- tools ---------------------------------------------------------------

    def run_tool(
        self,
        name: str,
        *args: str | Path,
        timeout: float = 120.0,
        check: bool = True,
        env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[str]:
        return run(
            [self.installation.tool(name), *args],
            cwd=self.datadir.parent,
            timeout=timeout,
            check=check,
            env=env,
        )

    # -- setup ---------------------------------------------------------------

    def init_primary(
        self,
        settings: Mapping[str, str] | None = None,
        hba: str | None = None,
        files: Mapping[str, str] | None = None,
    ) -> None:
        """initdb a new cluster and configure it (see :func:`write_cluster_conf`); the
        superuser gets :attr:`password`, if any. ``files`` (name: text) are written into the
        data directory, readable by the server only: certificates and keys that ``settings``
        name relative to it (``ssl_cert_file``, ...)."""
        pwfile = self.datadir.with_name(self.datadir.name + ".pw")
        options: list[str | Path] = []
        if self.password is not None:
            write_server_file(pwfile, self.password + "\n")
            options = ["--pwfile", pwfile]
        try:
            self.run_tool(
                "initdb",
                "--pgdata", self.datadir,
                "--username", SUPERUSER,
                "--auth", "trust",  # until pg_hba.conf is replaced below
                *options,
                "--encoding", "UTF8",
                "--no-locale",  # C locale: identical behaviour whatever the host's locales
                "--no-sync",
                "--no-instructions",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)
        for name, text in (files or {}).items():
            write_server_file(self.datadir / name, text)
        write_cluster_conf(self.datadir, settings, hba)
        self.write_server_conf()

    def write_server_conf(self) -> None:
        """(Re)write the settings that differ between servers of one cluster."""
        write_server_conf(self.datadir, self._port)

    # -- lifecycle -----------------------------------------------------------

    def is_running(self) -> bool:
        if not (self.datadir / "postmaster.pid").exists():
            return False
        # 0 = running, 3 = not running, 4 = no data directory.
        status = self.run_tool("pg_ctl", "status", "--pgdata", self.datadir, check=False)
        return status.returncode == 0

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        """Start the server and wait until it accepts connections.

        Raises :class:`ServerStartError` (with the tail of the server log) if
        it does not; a half-started server is stopped before raising.
        """
        if self.is_running():
            self._wait_accepting(time.monotonic() + timeout)
            return
        for _attempt in range(5):
            log_offset = self.logfile.stat().st_size if self.logfile.exists() else 0
            deadline = time.monotonic() + timeout
            result = self.run_tool(
                "pg_ctl", "start",
                "--pgdata", self.datadir,
                "--log", self.logfile,
                "--wait", "--timeout", str(max(1, round(timeout))),
                timeout=timeout + 30,
                check=False,
            )  # fmt: skip
            if result.returncode == 0:
                RUNNING.add(self)
                try:
                    self._wait_accepting(deadline)
                except BaseException:
                    self.kill()
                    raise
                return
            # pg_ctl also gives up while the postmaster is still starting up.
            self.kill()
            new_log = self._read_log(log_offset)
            if self._port_is_ours and _PORT_CONFLICT.search(new_log):
                self._port = free_port()
                self.write_server_conf()
                continue
            raise ServerStartError(
                f"{self!r} did not start (pg_ctl exit code {result.returncode}):\n"
                f"{result.stdout}{result.stderr}".rstrip()
                + f"\n--- {self.logfile} ---\n{_last_lines(new_log, 40) or '(empty)'}"
            )
        raise ServerStartError(f"{self!r}: no free port found after 5 attempts")

    def _wait_accepting(self, deadline: float) -> None:
        last_error: Exception | None = None
        while True:
            if not self.is_running():
                raise ServerStartError(
                    f"{self!r} exited during startup\n--- {self.logfile} ---\n{self.log_tail(40)}"
                )
            try:
                with self.connect(connect_timeout=5) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last_error = exc
            if time.monotonic() >= deadline:
                self.kill()
                raise ServerStartError(
                    f"{self!r} is not accepting connections: {last_error}\n"
                    f"--- {self.logfile} ---\n{self.log_tail(40)}"
                )
            time.sleep(0.1)

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """Stop the server (no-op when it is not running)."""
        if self.is_running():
            result = self.run_tool(
                "pg_ctl", "stop",
                "--pgdata", self.datadir,
                "--mode", mode,
                "--wait", "--timeout", str(max(1, round(timeout))),
                timeout=timeout + 30,
                check=False,
            )  # fmt: skip
            if result.returncode != 0 and self.is_running():
                raise PgServerError(
                    f"could not stop {self!r}: {result.stdout}{result.stderr}".rstrip()
                    + f"\n--- {self.logfile} ---\n{self.log_tail(20)}"
                )
        RUNNING.discard(self)

    def kill(self) -> None:
        """Best-effort immediate stop, for error paths and emergency cleanup."""
        with contextlib.suppress(PgServerError):
            self.stop(mode="immediate", timeout=30)

    def restart(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        self.stop()
        self.start(timeout=timeout)

    # -- clients -------------------------------------------------------------

    def dsn(
        self, dbname: str = "postgres", user: str = SUPERUSER, password: str | None = None
    ) -> str:
        """libpq URI for this server over TCP on 127.0.0.1 (the superuser's password
        included when it has one and no other is given)."""
        if password is None and user == SUPERUSER:
            password = self.password
        auth = quote(user, safe="")
        if password is not None:
            auth += ":" + quote(password, safe="")
        return f"postgresql://{auth}@{HOST}:{self._port}/{quote(dbname, safe='')}"

    def connect(
        self,
        dbname: str = "postgres",
        user: str = SUPERUSER,
        password: str | None = None,
        **kwargs: Any,
    ) -> psycopg.Connection[tuple[Any, ...]]:
        """An autocommit psycopg connection (use it as a context manager)."""
        kwargs.setdefault("connect_timeout", 10)
        return psycopg.connect(self.dsn(dbname, user, password), autocommit=True, **kwargs)

    def execute(
        self, query: Query, params: Sequence[Any] | None = None, *, dbname: str = "postgres"
    ) -> list[tuple[Any, ...]]:
        """Run one statement as the superuser; return its rows ([] if none)."""
        with self.connect(dbname) as conn:
            cur = conn.execute(query, params)
            return cur.fetchall() if cur.description is not None else []

    def scalar(
        self, query: Query, params: Sequence[Any] | None = None, *, dbname: str = "postgres"
    ) -> Any:
        """First column of the first row of ``query``."""
        rows = self.execute(query, params, dbname=dbname)
        if not rows:
            raise PgServerError(f"query returned no rows: {query!r}")
        return rows[0][0]

    # -- diagnostics ---------------------------------------------------------

    def _read_log(self, offset: int = 0) -> str:
        try:
            with self.logfile.open("rb") as log:
                log.seek(offset)
                return log.read().decode("utf-8", errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, n: int = 50) -> str:
        """The last ``n`` lines of the server log (for error messages)."""
        return _last_lines(self._read_log(), n)
