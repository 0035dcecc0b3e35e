"""What monitored servers may hold, against `pgmon run`: pg_stat_statements full (10,000
entries with long query texts), and schema, table, column, constraint and index names with
quotes, backslashes, newlines, non-ASCII letters and the full 63 bytes.

The exposition stays valid (promtool, and the OpenMetrics parser), series stay bounded, and
every index finding's remediation and rollback SQL runs as written, through psql.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as parse_openmetrics,
)
from psycopg import sql

from tests.daemon import Daemon, Series, lint, parse, value, wait_for
from tests.faults import all_up, pgmon_sessions, resident_bytes
from tests.pgserver import MONITOR_ROLE, Cluster, Server
from tests.scratchdb import NO_AUTOVACUUM, new_database

OPENMETRICS = "application/openmetrics-text;version=1.0.0"

# -- pg_stat_statements full -------------------------------------------------------------

STATEMENTS_MAX = 10_000
TOP_N = 50
OPERATORS = 14  # + or - between 15 numbers: 16,384 statements with a query id each
# A comment is kept in pg_stat_statements' text; this one is about 3 kB, and its start,
# which makes it into the query label, has a quote, a backslash, a newline and non-ASCII.
PADDING = '/* "q" \\ é€\n' + "long text of a statement. " * 120 + "*/"
# What the daemon may take with 10,000 entries in its ledger (it is about 60 MB watching
# an idle server, 72 MB here).
MAX_RESIDENT = 128 * 1024 * 1024
HUGE = 16_000  # statements from here on have a text of about 1 MB


def statement(i: int) -> str:
    terms = "".join(f" {'-' if i >> k & 1 else '+'} {k + 2}" for k in range(OPERATORS))
    return f"SELECT 1{terms} {PADDING * (350 if i >= HUGE else 1)}"


def fill_statements(server: Server, count: int, start: int = 0) -> None:
    with server.connect() as conn:
        for first in range(start, start + count, 500):
            last = min(first + 500, start + count)
            conn.execute(";\n".join(statement(i) for i in range(first, last)))  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def full_statements(pg_cluster: Cluster) -> Iterator[Server]:
    """A server of its own whose pg_stat_statements holds 10,000 long statements."""
    cluster = Cluster(
        pg_cluster.installation,
        with_replica=False,
        settings={"pg_stat_statements.max": str(STATEMENTS_MAX)},
    )
    try:
        cluster.start()
        fill_statements(cluster.primary, STATEMENTS_MAX - 10)
        for _ in range(3):  # called more often than the others
            fill_statements(cluster.primary, 10, start=HUGE)
        yield cluster.primary
    finally:
        cluster.cleanup()


def statement_ids(series: Series, metric: str) -> set[str]:
    return {dict(labels)["queryid"] for (name, labels) in series if name == metric}


def test_ten_thousand_long_statements(full_statements: Server) -> None:
    server = full_statements
    config = {
        "targets": [{"name": "full", "dsn": server.dsn(user=MONITOR_ROLE)}],
        "collectors": {"statements": {"interval": "2s", "timeout": "2s", "top_n": TOP_N}},
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        resident: list[int] = []
        for round_ in range(4):
            # New activity on other statements each time: new ones enter the top N (and
            # have their text read), others leave it.
            fill_statements(server, 300, start=1000 * round_)
            seen = value(
                daemon.scrape(),
                "pgmon_collector_last_success_timestamp_seconds",
                collector="statements",
            )
            wait_for(
                lambda seen=seen: (
                    (
                        value(
                            daemon.scrape(),
                            "pgmon_collector_last_success_timestamp_seconds",
                            collector="statements",
                        )
                        or 0
                    )
                    > (seen or 0) + 2
                ),
                20,
                "a later run of the statements collector",
            )
            resident.append(resident_bytes(daemon.proc.pid))
        status, _, body = daemon.get("/metrics")
        assert status == 200
        text = body.decode()
        assert pgmon_sessions(server) == {"postgres": 1}
    series = parse(text)
    assert value(series, "pgmon_collector_up", collector="statements") == 1
    assert value(series, "pg_settings_pg_stat_statements_max") == STATEMENTS_MAX
    assert (value(series, "pg_stat_statements_entries") or 0) >= 0.9 * STATEMENTS_MAX
    ids = statement_ids(series, "pg_stat_statements_calls_total")
    assert len(ids) == TOP_N + 1 and "other" in ids
    queries = [dict(lbl)["query"] for (n, lbl) in series if n == "pg_stat_statements_query_info"]
    assert len(queries) == TOP_N
    assert all(len(q) <= 120 for q in queries)
    assert any('"q" \\ é€' in q for q in queries), queries[:3]
    assert len(text) < 1024 * 1024  # the texts of about 1 MB are not in it
    assert not lint(text)[1]
    assert max(resident) < MAX_RESIDENT, [r // 2**20 for r in resident]


# -- names no one should write --------------------------------------------------------


def full_length(stem: str) -> str:
    """`stem` made exactly 63 bytes long (the longest identifier), ending with a two-byte
    letter, so that a name built from it must be cut between letters, not inside one."""
    need = 63 - len(stem.encode())
    assert need >= 2, stem
    return stem + "x" * (need % 2) + "ü" * (need // 2)


SCHEMA = full_length('Sch"ema \\ \n ')
PARENT = 'pa\'rent "名"'
CHILD = full_length('ch"ild\\\ntäble ')
ID, VAL, OTHER, REF = 'i"d', "v\nal", "w'x\\", "ref ü"
FKEY = full_length('fk "ref" \\\n ')
UNUSED = full_length('unused "ü" \\\n ')
TWIN = full_length('tw\'in "2" ')
WIDER = "wi\\der\n ü"
INVALID = full_length('in"valid\n ')
EVENTS = 'ev"ents\n'
EVENTS_INDEX = "ev$idx"  # plain but for "$", which Postgres quotes in what it writes
EVENTS_FKEY = "ev fk\n"


def plant(server: Server, dbname: str) -> None:
    def ident(*names: str) -> sql.Composed:
        return sql.SQL(".").join(sql.Identifier(n) for n in names)

    child, parent, events = ident(SCHEMA, CHILD), ident(SCHEMA, PARENT), ident(SCHEMA, EVENTS)
    id_, val, other, ref = (sql.Identifier(c) for c in (ID, VAL, OTHER, REF))
    statements = [
        sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(SCHEMA)),
        sql.SQL("CREATE TABLE {} (id int PRIMARY KEY) " + NO_AUTOVACUUM).format(parent),
        sql.SQL("INSERT INTO {} VALUES (1), (2)").format(parent),
        sql.SQL(
            "CREATE TABLE {} ({} serial PRIMARY KEY, {} int, {} int, {} int, "
            "CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {}) " + NO_AUTOVACUUM
        ).format(child, id_, val, other, ref, sql.Identifier(FKEY), ref, parent),
        sql.SQL(
            "INSERT INTO {} ({}, {}, {}) SELECT g, g % 7, 1 FROM generate_series(1, 2000) g"
        ).format(child, val, other, ref),
        sql.SQL("CREATE INDEX {} ON {} ({})").format(sql.Identifier(UNUSED), child, val),
        sql.SQL("CREATE INDEX {} ON {} ({})").format(sql.Identifier(TWIN), child, val),
        sql.SQL("CREATE INDEX {} ON {} ({}, {})").format(sql.Identifier(WIDER), child, val, id_),
        sql.SQL(
            "CREATE TABLE {} (id int, p int, CONSTRAINT {} FOREIGN KEY (p) REFERENCES {}) "
            "PARTITION BY RANGE (id)"
        ).format(events, sql.Identifier(EVENTS_FKEY), parent),
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM (0) TO (1000)").format(
            ident(SCHEMA, EVENTS + " 1"), events
        ),
        sql.SQL("CREATE TABLE {} PARTITION OF {} FOR VALUES FROM (1000) TO (2000)").format(
            ident(SCHEMA, EVENTS + " 2"), events
        ),
        sql.SQL("INSERT INTO {} SELECT g, 1 FROM generate_series(0, 1999) g").format(events),
        sql.SQL("CREATE INDEX {} ON {} (id)").format(sql.Identifier(EVENTS_INDEX), events),
    ]
    with server.connect(dbname) as conn:
        for statement in statements:
            conn.execute(statement)
    # In a session of its own: the inserts' counts, still pending in the session that made
    # them, would be added on top of what ANALYZE counts.
    with server.connect(dbname) as conn:
        conn.execute(sql.SQL("ANALYZE {}, {}").format(child, events))
        # Every row has the same value there: the unique index is left behind, invalid.
        with pytest.raises(Exception, match="could not create unique index"):
            conn.execute(
                sql.SQL("CREATE UNIQUE INDEX CONCURRENTLY {} ON {} ({})").format(
                    sql.Identifier(INVALID), child, other
                )
            )


def psql(server: Server, dbname: str, script: str) -> None:
    """Run SQL as a DBA would paste it: psql splits the statements itself."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    done = subprocess.run(
        [
            server.installation.tool("psql"),
            *("-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", server.dsn(dbname), "-f", "-"),
        ],
        input=script,
        capture_output=True,
        text=True,
        env={**env, "PGCLIENTENCODING": "UTF8"},
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, f"{script}\n{done.stderr}"


def state_of(server: Server, dbname: str) -> list[tuple[Any, ...]]:
    """What the findings' SQL may change: the schema's relations with their definitions,
    validity, storage options and whether pgmon may read them; the database's extensions."""
    relations = server.execute(
        "SELECT c.relname, c.relkind::text, pg_get_indexdef(x.indexrelid), x.indisvalid, "
        "c.reloptions, has_table_privilege(%s, c.oid, 'SELECT') "
        "FROM pg_class c LEFT JOIN pg_index x ON x.indexrelid = c.oid "
        "WHERE c.relnamespace = %s::regnamespace ORDER BY 1",
        [MONITOR_ROLE, sql.Identifier(SCHEMA).as_string()],
        dbname=dbname,
    )
    extensions = server.execute("SELECT extname FROM pg_extension ORDER BY 1", dbname=dbname)
    return [(*row[:4], _same_booleans(row[4]), row[5]) for row in relations] + extensions


def _same_booleans(options: list[str] | None) -> list[str] | None:
    """Storage options as Postgres reads them: off and false are one value, as on and true."""
    spelled = {"off": "false", "on": "true"}
    if options is None:
        return None
    return [f"{k}={spelled.get(v, v)}" for k, v in (o.split("=", 1) for o in options)]


def findings_of(daemon: Daemon) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = json.loads(daemon.get("/findings")[2])
    return found


@pytest.fixture
def odd_names(pg_cluster: Cluster) -> Iterator[tuple[Server, str]]:
    with new_database(pg_cluster.primary, "pgmon_fault_names") as dbname:
        plant(pg_cluster.primary, dbname)
        yield pg_cluster.primary, dbname


def test_names_with_quotes_newlines_and_63_bytes(odd_names: tuple[Server, str]) -> None:
    server, dbname = odd_names
    config = {
        "targets": [
            {
                "name": "odd",
                "dsn": server.dsn(dbname, user=MONITOR_ROLE),
                "databases": {"include": [dbname]},
            },
        ],
        "openmetrics": True,
        "findings": {
            "interval": "1s",
            "thresholds": {
                "unused_index": {"min_size_bytes": 0},
                "missing_fk_index": {"min_table_size_bytes": 0},
            },
        },
    }
    wanted = {"unused_index", "duplicate_index", "redundant_index", "invalid_index"}
    with Daemon(config) as daemon:
        daemon.wait_ready()
        wait_for(lambda: all_up(daemon.scrape(), "odd"), 20, "every collector to succeed")
        findings = wait_for(
            lambda: (
                (found := [f for f in findings_of(daemon) if f["datname"] == dbname])
                and wanted | {"missing_fk_index"} <= {f["check"] for f in found}
                and found
            ),
            20,
            "the index findings",
        )
        text = daemon.get("/metrics")[2].decode()
        openmetrics = daemon.get("/metrics", {"Accept": OPENMETRICS})[2].decode()
        assert pgmon_sessions(server) == {dbname: 1}

    # The exposition: valid in both formats, every name read back as it is.
    assert not lint(text)[1], lint(text)[1]
    assert list(parse_openmetrics(openmetrics))
    series = parse(text)
    table = {"datname": dbname, "schemaname": SCHEMA, "relname": CHILD}
    assert value(series, "pg_stat_user_tables_n_live_tup", **table) == 2000
    index = {**table, "indexrelname": UNUSED}
    assert value(series, "pg_stat_user_indexes_scans_total", **index) == 0
    objects = {dict(lbl)["object"] for (n, lbl) in series if n == "pgmon_finding"}
    assert {f["object"] for f in findings} <= objects

    # Every finding's fix and its rollback, for real; the invalid index's last, as its
    # rebuild needs unique values first and has no rollback.
    before = state_of(server, dbname)
    for finding in sorted(findings, key=lambda f: f["check"] == "invalid_index"):
        if finding["check"] == "invalid_index":
            server.execute(
                sql.SQL("UPDATE {} SET {} = {}").format(
                    sql.SQL(".").join(map(sql.Identifier, (SCHEMA, CHILD))),
                    sql.Identifier(OTHER),
                    sql.Identifier(ID),
                ),
                dbname=dbname,
            )
        psql(server, dbname, finding["remediation"])
        assert state_of(server, dbname) != before, finding
        if finding["rollback"]:
            psql(server, dbname, finding["rollback"])
            assert state_of(server, dbname) == before, finding
    invalid = [row for row in before if row[0] == INVALID]
    rebuilt = [row for row in state_of(server, dbname) if row[0] == INVALID]
    assert [row[3] for row in invalid] == [False] and [row[3] for row in rebuilt] == [True]
    assert rebuilt[0][2] == invalid[0][2]  # the same definition
