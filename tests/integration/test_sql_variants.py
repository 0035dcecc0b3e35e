"""Every collector's SQL, every version's file: each variant that runs on a server returns the
same columns as the variant chosen for that server, on the primary and on the standby.

A collector reads rows by column name, whichever file produced them. A variant for an older
server may no longer run on a newer one (a view or column was renamed or dropped), and one
for a newer server may not run yet on an older one; every variant that does run must match.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import psycopg
import pytest
from psycopg import errors, sql

from monitor.collectors import ALL
from monitor.sql import catalogue, query_for
from tests.pgserver import MONITOR_ROLE, Cluster

QUERIES = [query for spec in ALL for query in spec.queries]

# How the collectors complete some queries (see their modules), here with values valid on
# any server. Every other query runs as written, without parameters.
PARAMETERS: dict[str, Sequence[Any]] = {
    "indexes": (5, True),  # top_n, exact_sizes
    "index_catalog": (True,),  # exact
    "tables": (5, True),  # top_n, exact_sizes
    "tables_named": (True, [], [], [], []),  # exact_sizes, relids, TOAST indexes, sizes
    "database_catalog": (False, ["postgres"]),  # measure every database, names to measure
    "sequences": (5,),  # top_n
    "vacuum": (5, 5),  # top_n (by dead tuples), top_n (by last vacuum)
    "bloat": (0, 5),  # min_bytes, limit
    "bloat_indexes": (0, 5),  # min_bytes, limit
    "bloat_hidden": (0,),  # min_bytes
    "statements_text": ([], [], []),  # the queryid, userid and dbid of the entries wanted
    "sessions": (5,),  # top_n
    "sessions_blocking": (5,),  # top_n
}
IN_EXTENSION_SCHEMA = {"statements", "statements_info", "statements_text"}  # {schema}

# What a variant written for another version fails with (UndefinedObject: a setting).
MISSING = (
    errors.UndefinedColumn,
    errors.UndefinedTable,
    errors.UndefinedFunction,
    errors.UndefinedObject,
)


def extension_schema(conn: psycopg.Connection[Any]) -> str:
    row = conn.execute(
        "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace "
        "WHERE e.extname = 'pg_stat_statements'"
    ).fetchone()
    assert row is not None, "the test cluster creates pg_stat_statements in db postgres"
    return str(row[0])


def columns(conn: psycopg.Connection[Any], query: str, text: str) -> list[str]:
    statement: sql.SQL | sql.Composed = sql.SQL(text)
    if query in IN_EXTENSION_SCHEMA:
        statement = sql.SQL(text).format(schema=sql.Identifier(extension_schema(conn)))
    description = conn.execute(statement, PARAMETERS.get(query)).description
    assert description is not None, f"{query} is not a SELECT"
    return [column.name for column in description]


@pytest.mark.parametrize("role", ["primary", "replica"])
@pytest.mark.parametrize("query", QUERIES)
def test_variants_that_run_here_return_the_same_columns(
    pg_cluster: Cluster, role: str, query: str
) -> None:
    server = pg_cluster.primary if role == "primary" else pg_cluster.replica
    with psycopg.connect(server.dsn(user=MONITOR_ROLE), autocommit=True) as conn:
        chosen = columns(conn, query, query_for(query, conn.info.server_version))
        for variant in catalogue()[query]:
            try:
                found = columns(conn, query, variant.text)
            except MISSING:
                continue
            assert found == chosen, (query, variant.min_version)
