"""DSN handling that never lets a password escape into a label, a log line or an error."""

from __future__ import annotations

import getpass
import os
import re
import stat
from collections.abc import Mapping
from urllib.parse import unquote

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

# Where a password can sit in a DSN that libpq may not even parse: the user-info part of a
# URI, a `password=` query parameter, or a key=value pair (quoted, possibly unterminated).
_URI_USERINFO = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*://[^@/?#]*?:(?P<secret>[^@/?#]*)@")
_URI_QUERY = re.compile(r"[?&]password=(?P<secret>[^&#]*)")
_KEYWORD = re.compile(r"(?:^|\s)password\s*=\s*(?:'(?P<quoted>(?:[^'\\]|\\.)*)'?|(?P<bare>\S+))")

# Parameters that name a file libpq reads, and enumerations libpq checks only when it
# connects: checked at start-up so that a typo is a configuration error, not an outage.
_FILES = ("sslcert", "sslkey", "sslrootcert", "sslcrl", "passfile")
_CHOICES = {
    "sslmode": ("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
    "gssencmode": ("disable", "prefer", "require"),
    "channel_binding": ("disable", "prefer", "require"),
    "target_session_attrs": (
        "any",
        "read-write",
        "read-only",
        "primary",
        "standby",
        "prefer-standby",
    ),
}


def check_dsn(dsn: str) -> None:
    """Raise ValueError if libpq would reject the DSN, or a file it names (TLS certificates
    and keys, passfile) cannot be read. The message never holds the DSN's password."""
    problem = _problem(dsn)
    if problem is not None:
        raise ValueError(redact(problem, dsn))


def _problem(dsn: str) -> str | None:
    try:
        params = conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "unparsable"
        return f"not a valid libpq connection string ({detail})"
    for port in str(params.get("port") or "").split(","):
        if port and not (port.isdigit() and 0 < int(port) <= 65535):
            return f"port {port!r} is not a port number"
    for key, choices in _CHOICES.items():
        value = params.get(key)
        if value is not None and value not in choices:
            return f"{key} {value!r} is not one of {', '.join(choices)}"
    for key in _FILES:
        path = params.get(key)
        if not path or (key == "sslrootcert" and path == "system"):
            continue
        problem = unreadable(str(path))
        if problem:
            return f"{key} {path}: cannot read it ({problem})"
    return None


def unreadable(path: str) -> str | None:
    """Why the file cannot be read, or None when it can. Opened without blocking and not
    read: a FIFO or a device named by mistake must not hang start-up."""
    try:
        if stat.S_ISDIR(os.stat(path).st_mode):
            return "it is a directory"
        os.close(os.open(path, os.O_RDONLY | os.O_NONBLOCK))
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    return None


def secrets_of(dsn: str) -> list[str]:
    """Every password a DSN holds, as written and as libpq reads it, so that output can be
    scrubbed of it; also from a DSN libpq cannot parse (its error messages may quote it)."""
    found: set[str] = set()
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        password = None
    if password:
        found.add(str(password))
    for pattern in (_URI_USERINFO, _URI_QUERY):
        for match in pattern.finditer(dsn):
            raw = match.group("secret")
            found.update((raw, unquote(raw)))
    for match in _KEYWORD.finditer(dsn):
        quoted, bare = match.group("quoted"), match.group("bare")
        raw = quoted if quoted is not None else bare
        found.update((raw, re.sub(r"\\(.)", r"\1", raw)))
    # Longest first, so that scrubbing a secret never leaves a longer one half-replaced.
    return sorted((s for s in found if s), key=len, reverse=True)


def redact(text: str, dsn: str) -> str:
    """`text` with every password of `dsn` replaced by ***."""
    for secret in secrets_of(dsn):
        text = text.replace(secret, "***")
    return text


def _effective(params: Mapping[str, object], key: str, env: str, default: str) -> str:
    value = params.get(key) or os.environ.get(env)
    return str(value) if value else default


def display_name(dsn: str) -> str:
    """host:port/dbname the way libpq would resolve it; the default `target` label.

    With several hosts (libpq failover lists) each gets its port: h1:5432,h2:5433/app.
    """
    params = conninfo_to_dict(dsn)
    hosts = _effective(params, "host", "PGHOST", "") or _effective(
        params, "hostaddr", "PGHOSTADDR", ""
    )
    ports = _effective(params, "port", "PGPORT", "5432").split(",")
    names = []
    for index, host in enumerate(hosts.split(",")):
        port = ports[index] if index < len(ports) else ports[-1]
        if not host or host.startswith("/"):
            host = "localhost"
        names.append(f"{host}:{port or '5432'}")
    return f"{','.join(names)}/{dbname_of(dsn)}"


def dbname_of(dsn: str) -> str:
    params = conninfo_to_dict(dsn)
    user = _effective(params, "user", "PGUSER", "") or _os_user()
    return _effective(params, "dbname", "PGDATABASE", user)


def _os_user() -> str:
    """libpq's default user name. Containers often run under a UID that has no passwd
    entry; then there is no default (libpq will say so when it connects)."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return ""


def with_database(dsn: str, dbname: str) -> str:
    """The same server and credentials, another database."""
    return make_conninfo(dsn, dbname=dbname)
