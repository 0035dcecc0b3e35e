"""Throwaway PostgreSQL servers for the test suite and the benchmarks.

The servers themselves are monitor.pginstance's (also behind ``pgmon demo``); this module
adds what only the tests need: the monitoring roles and a pg_hba.conf rule that makes one
of them authenticate with a password.  Plain Python on purpose (no pytest imports) so that
scripts under ``bench/`` can use it too::

    with Cluster("17") as cluster:
        print(cluster.primary.dsn(), cluster.replica.dsn())
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager

from psycopg import sql

from monitor import pginstance
from monitor.pginstance import *  # noqa: F403  (re-exported: tests import them from here)
from monitor.pginstance import HOST, Installation, Server, loopback_hba
from tests.leaks import secret

__all__ = [*pginstance.__all__, "MONITOR_ROLE", "PASSWORD_ROLE", "PASSWORD_ROLE_PASSWORD"]

# Role the monitor is expected to run as: LOGIN + pg_monitor, nothing more.
MONITOR_ROLE = "pgmon"
# Same privileges, but pg_hba forces scram-sha-256 for it, so tests can check
# that password handling in the monitor really works.
PASSWORD_ROLE = "pgmon_pw"
PASSWORD_ROLE_PASSWORD = secret("S3cr3t-pw-for-tests-7Kq2")

# Everybody else is trusted over TCP from 127.0.0.1, as tests connect without passwords.
_PASSWORD_RULE = f"host    all          {PASSWORD_ROLE:<13} {HOST}/32    scram-sha-256"


def hba_for_tests(before: Sequence[str] = ()) -> str:
    """pg_hba.conf of the test servers; ``before``: rules that win over the usual ones."""
    return loopback_hba("trust", before=[*before, _PASSWORD_RULE])


class Cluster(pginstance.Cluster):
    """A primary and (by default) one streaming replica of one major version.

    On the primary's ``postgres`` database pg_stat_statements is installed, and the roles
    :data:`MONITOR_ROLE` and :data:`PASSWORD_ROLE` exist with ``pg_monitor``. ``settings``
    (postgresql.conf), ``hba_before`` (pg_hba.conf rules ahead of the usual ones) and
    ``files`` (written into the data directory) adapt a server to a test, e.g. for TLS.
    """

    def __init__(
        self,
        installation: Installation | str | int,
        *,
        with_replica: bool = True,
        slot_name: str = "pgmon_replica",
        settings: Mapping[str, str] | None = None,
        hba_before: Sequence[str] = (),
        files: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(
            installation,
            with_replica=with_replica,
            slot_name=slot_name,
            workdir_prefix="pgmon-test-pg",
            settings=settings,
            hba=hba_for_tests(hba_before),
            files=files,
        )

    def bootstrap(self, primary: Server) -> None:
        super().bootstrap(primary)
        with primary.connect() as conn:
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(MONITOR_ROLE)))
            conn.execute(
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(PASSWORD_ROLE), sql.Literal(PASSWORD_ROLE_PASSWORD)
                )
            )
            for role in (MONITOR_ROLE, PASSWORD_ROLE):
                conn.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(role)))


@contextmanager
def primary_alone(installation: Installation) -> Iterator[Cluster]:
    """A started primary of its own, for tests that stop or break it without disturbing the
    shared cluster; removed afterwards."""
    cluster = Cluster(installation, with_replica=False)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()
