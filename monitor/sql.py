"""SQL files by name and server version.

queries/<name>.sql serves every supported version; queries/<name>.pg<major>.sql replaces it
from that major on. The file for a server is the one with the highest minimum version not
above the server's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from importlib import resources

_FILE = re.compile(r"^(?P<name>[a-z0-9_]+?)(?:\.pg(?P<major>\d+))?\.sql$")


@dataclass(frozen=True)
class QueryVariant:
    min_version: int
    text: str


class QueryFileError(Exception):
    pass


@cache
def catalogue() -> dict[str, tuple[QueryVariant, ...]]:
    """Every query file, variants sorted by minimum version; read once per process."""
    found: dict[str, list[QueryVariant]] = {}
    for entry in resources.files("monitor.queries").iterdir():
        match = _FILE.match(entry.name)
        if match is None:
            continue
        major = match.group("major")
        min_version = int(major) * 10000 if major else 0
        text = entry.read_text(encoding="utf-8")
        found.setdefault(match.group("name"), []).append(QueryVariant(min_version, text))
    return {
        name: tuple(sorted(variants, key=lambda v: v.min_version))
        for name, variants in found.items()
    }


def query_for(name: str, server_version: int) -> str:
    variants = catalogue().get(name)
    if not variants:
        raise QueryFileError(f"no SQL file for query {name!r}")
    chosen = [v for v in variants if v.min_version <= server_version]
    if not chosen:
        raise QueryFileError(f"query {name!r} has no variant for server version {server_version}")
    return chosen[-1].text


def check_queries(names: set[str]) -> None:
    """Fail at start-up, not at the first run, when a declared query has no base file."""
    files = catalogue()
    for name in sorted(names):
        if name not in files:
            raise QueryFileError(f"no SQL file queries/{name}.sql")
        if files[name][0].min_version != 0:
            raise QueryFileError(f"queries/{name}.sql (the variant for old servers) is missing")
