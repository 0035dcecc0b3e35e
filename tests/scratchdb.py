"""Scratch databases of the shared test cluster."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

import psycopg
from psycopg import sql

from monitor.collectors.base import CollectorSpec
from tests.collecting import Collected, collect
from tests.pgserver import MONITOR_ROLE, Server

NO_AUTOVACUUM = "WITH (autovacuum_enabled = off)"  # no background change to the counters


class Database:
    """A scratch database of the shared cluster and the collector a test runs in it."""

    def __init__(self, server: Server, name: str, spec: CollectorSpec) -> None:
        self.server = server
        self.name = name
        self.spec = spec

    def run(self, *statements: str, **settings: str) -> None:
        """Run statements in one autocommit session and publish its statistics now.

        Backends flush their statistics at most once a second unless told otherwise;
        pg_stat_force_next_flush() (PG15+) makes the end of that statement flush them.
        """
        with self.server.connect(self.name) as conn:
            for name, value in settings.items():
                conn.execute("SELECT set_config(%s, %s, false)", (name, value))
            for statement in statements:
                conn.execute(statement)  # type: ignore[arg-type]
            conn.execute("SELECT pg_stat_force_next_flush()")

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        return self.server.execute(query, dbname=self.name)  # type: ignore[arg-type]

    def scalar(self, query: str) -> Any:
        return self.server.scalar(query, dbname=self.name)  # type: ignore[arg-type]

    def dsn(self, lock_timeout: str | None = None) -> str:
        dsn = self.server.dsn(self.name, user=MONITOR_ROLE)
        if lock_timeout is not None:  # turns a wait into an error instead of a hung test
            dsn += "?options=" + quote(f"-c lock_timeout={lock_timeout}")
        return dsn

    def collect(self, top_n: int | None = None) -> Collected:
        return collect(self.spec, self.dsn(lock_timeout="10s"), top_n=top_n)

    def empty(self) -> None:
        """Drop everything a test made, so that the next one's rankings see only its own."""
        self.run("DROP SCHEMA public CASCADE", "CREATE SCHEMA public")


@contextmanager
def new_database(server: Server, prefix: str) -> Iterator[str]:
    """A new database named `prefix`_<random>, dropped (with its sessions) when the block
    ends."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    server.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield name
    finally:
        server.execute(
            sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
        )


@contextmanager
def scratch_database(server: Server, prefix: str, spec: CollectorSpec) -> Iterator[Database]:
    """A new database to collect from with `spec`, dropped when the block ends."""
    with new_database(server, prefix) as name:
        yield Database(server, name, spec)


@contextmanager
def session(db: Database) -> Iterator[psycopg.Connection[Any]]:
    """A superuser session with an open transaction, rolled back at the end."""
    with db.server.connect(db.name) as conn:
        conn.autocommit = False
        try:
            yield conn
        finally:
            conn.rollback()
