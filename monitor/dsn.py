"""DSN handling that never lets a password escape into a label, a log line or an error."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo


def check_dsn(dsn: str) -> None:
    """Raise ValueError (without echoing the DSN, which may hold a password) if libpq rejects it."""
    try:
        conninfo_to_dict(dsn)
    except psycopg.ProgrammingError as exc:
        detail = str(exc).splitlines()[0] if str(exc) else "unparsable"
        for secret in secrets_of(dsn):
            detail = detail.replace(secret, "***")
        raise ValueError(f"not a valid libpq connection string ({detail})") from None


def secrets_of(dsn: str) -> list[str]:
    """The password in a DSN, if any, so that log output can be scrubbed of it."""
    try:
        password = conninfo_to_dict(dsn).get("password")
    except psycopg.ProgrammingError:
        # An unparsable DSN is never used; still scrub what looks like the secret part.
        password = dsn.partition("password=")[2].split(" ")[0] or None
    return [str(password)] if password else []


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
