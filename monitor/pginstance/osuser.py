"""Running server tools as the right OS user, and files and directories that user can use.

initdb refuses to run as root, so when we are root every server tool runs as the
``postgres`` system user through ``runuser`` (or, on a machine without that account, as
``nobody``: a throwaway server in a temporary directory needs no account of its own, and
creating one would change the machine); files we create for the server are handed to
that user.
"""

from __future__ import annotations

import functools
import os
import pwd
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from monitor.pginstance.errors import PgServerError, WaitTimeout

# OS accounts that may own and run the servers when we are root, in order of preference.
SERVER_OS_USER = "postgres"
FALLBACK_OS_USER = "nobody"

_T = TypeVar("_T")


@dataclass(frozen=True)
class RunAs:
    prefix: tuple[str, ...]  # command prefix, e.g. ("runuser", "-u", "postgres", "--")
    uid: int | None  # owner to give to the files we create; None = leave as is
    gid: int | None

    @property
    def user(self) -> str:
        """Name of the OS user the servers run as."""
        return pwd.getpwuid(os.geteuid() if self.uid is None else self.uid).pw_name


@functools.cache
def run_as() -> RunAs:
    if os.geteuid() != 0:
        return RunAs(prefix=(), uid=None, gid=None)
    account = _account(SERVER_OS_USER) or _account(FALLBACK_OS_USER)
    if account is None:
        raise PgServerError(
            f"running as root, but there is neither a {SERVER_OS_USER!r} nor a "
            f"{FALLBACK_OS_USER!r} account to run PostgreSQL as (initdb refuses to run as "
            "root); create one or run as an ordinary user"
        )
    runuser = shutil.which("runuser")
    if runuser is None:
        raise PgServerError("running as root, but 'runuser' (util-linux) is not installed")
    return RunAs(
        prefix=(runuser, "-u", account.pw_name, "--"), uid=account.pw_uid, gid=account.pw_gid
    )


def _account(name: str) -> pwd.struct_passwd | None:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        return None


def _server_env(extra: Mapping[str, str]) -> dict[str, str]:
    # PGDATA, PGPORT, PGHOST, ... from the caller's shell would silently
    # redirect the tools to some other server.
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")} | dict(extra)


def run(
    cmd: Sequence[str | Path],
    *,
    cwd: Path,
    timeout: float = 120.0,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command as the server OS user, capturing its output.

    ``env`` adds variables (e.g. PGPASSWORD) to the caller's environment, from which
    every PG* variable has been removed.
    """
    argv = [*run_as().prefix, *(str(part) for part in cmd)]
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,  # must be accessible to the server user, unlike e.g. /root
            env=_server_env(env or {}),
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


def give_to_server_user(path: Path) -> None:
    owner = run_as()
    if owner.uid is not None and owner.gid is not None:
        os.chown(path, owner.uid, owner.gid)


def write_server_file(path: Path, text: str) -> None:
    """Write a file inside a data directory, readable by the server only."""
    path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    give_to_server_user(path)


def make_workdir(prefix: str = "pgmon-pg-") -> Path:
    """Create a fresh private directory (under the temp dir) for data directories.

    It is owned by the server user, so initdb / pg_basebackup can create data
    directories in it.  Not e.g. pytest's ``tmp_path``: that lives in a 0700
    directory of the invoking user which the ``postgres`` user cannot enter.
    """
    workdir = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        give_to_server_user(workdir)
        # Fail here, with a clear message, if e.g. TMPDIR points somewhere the
        # server user cannot reach, rather than with an obscure initdb error.
        probe = run(["test", "-w", workdir, "-a", "-x", workdir], cwd=Path("/"), check=False)
        if probe.returncode != 0:
            raise PgServerError(
                f"the server OS user cannot write to {workdir}; is TMPDIR "
                f"({tempfile.gettempdir()}) inside a private directory?"
            )
    except BaseException:
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    return workdir


def poll(check: Callable[[], _T | None], timeout: float, what: str, interval: float = 0.1) -> _T:
    """Call ``check`` until it returns something other than None, or time out."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result is not None:
            return result
        if time.monotonic() >= deadline:
            raise WaitTimeout(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(interval)
