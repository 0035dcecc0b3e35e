"""Configuration of throwaway servers: where they listen, their settings and pg_hba.conf."""

from __future__ import annotations

import socket
from collections.abc import Mapping, Sequence
from pathlib import Path

from monitor.pginstance.osuser import write_server_file

HOST = "127.0.0.1"
SUPERUSER = "postgres"
DEFAULT_TIMEOUT = 30.0

# Extra config files we add to every data directory.  The shared one travels
# to replicas with pg_basebackup; the per-server one is rewritten per server.
SHARED_CONF = "pgmon_cluster.conf"
SERVER_CONF = "pgmon_server.conf"

THROWAWAY_SETTINGS: Mapping[str, str] = {
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


def loopback_hba(method: str = "trust", before: Sequence[str] = ()) -> str:
    """pg_hba.conf of a throwaway server: TCP from 127.0.0.1 only, with ``method``;
    Unix sockets (in a directory only the server user may enter) trusted.

    The first line that matches wins, so ``before`` (e.g. a rule for one role) comes
    ahead of the catch-all TCP rules.
    """
    lines = [
        "# Written by pgmon for a throwaway server; loopback only.",
        "# TYPE  DATABASE     USER          ADDRESS         METHOD",
        "local   all          all                           trust",
        *before,
        f"host    all          all           {HOST}/32    {method}",
        "local   replication  all                           trust",
        f"host    replication  all           {HOST}/32    {method}",
    ]
    return "\n".join(lines) + "\n"


def free_port() -> int:
    # The port is free now but may be taken before the postmaster binds it;
    # Server.start() retries with another port when that happens.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def conf_literal(value: str | Path) -> str:
    return "'" + str(value).replace("'", "''") + "'"


def write_cluster_conf(datadir: Path, settings: Mapping[str, str] | None, hba: str | None) -> None:
    """Settings shared by a primary and its replicas (pg_basebackup copies them), and
    pg_hba.conf: :data:`THROWAWAY_SETTINGS` overridden by ``settings`` (values as written
    in postgresql.conf); ``hba``, or :func:`loopback_hba`."""
    merged = {**THROWAWAY_SETTINGS, **(settings or {})}
    text = "".join(f"{key} = {value}\n" for key, value in merged.items())
    write_server_file(datadir / SHARED_CONF, "# Written by pgmon\n" + text)
    write_server_file(datadir / "pg_hba.conf", hba if hba is not None else loopback_hba())
    # Appending keeps the file's owner (the server user) even when we are root.
    with (datadir / "postgresql.conf").open("a", encoding="utf-8") as conf:
        conf.write(
            "\n# Added by pgmon; later settings win.\n"
            f"include {conf_literal(SHARED_CONF)}\n"
            f"include {conf_literal(SERVER_CONF)}\n"
        )


def write_server_conf(datadir: Path, port: int) -> None:
    """(Re)write the settings that differ between the servers of one cluster."""
    write_server_file(
        datadir / SERVER_CONF,
        "# Written by pgmon; specific to this server.\n"
        f"port = {port}\n"
        f"unix_socket_directories = {conf_literal(datadir.parent)}\n"
        # Shows in `ps` output (easy to tell our processes apart) and is the
        # application_name of a replica's walreceiver on its primary.
        f"cluster_name = {conf_literal('pgmon-' + datadir.name)}\n",
    )
