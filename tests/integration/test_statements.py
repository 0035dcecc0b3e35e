"""statements collector against real servers: real statements from several roles, more of them
than the top N, resets between runs, and a database without the extension."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import namedtuple_row

from monitor.collectors import ALL
from monitor.collectors.base import RunContext, Unavailable
from monitor.collectors.statements import COUNTERS, SPEC
from monitor.metrics import build_families
from tests.collecting import TARGET, Collected, collect
from tests.daemon import Daemon
from tests.daemon import value as series_value
from tests.leaks import secret
from tests.pgserver import MONITOR_ROLE, Cluster, Server
from tests.scratchdb import new_database

CALLS = "pg_stat_statements_calls_total"
INFO = "pg_stat_statements_query_info"
OTHER = {"user": "", "datname": "", "queryid": "other"}
STATEMENT_METRICS = [c.metric.name for c in COUNTERS]
# Server-side sums of top-level entries, by the metric they must match. Integer counters
# must match exactly; times are floats summed in another order, so they match closely.
SERVER_TOTALS = {
    "pg_stat_statements_calls_total": "sum(calls)",
    "pg_stat_statements_rows_total": "sum(rows)",
    "pg_stat_statements_shared_blocks_hit_total": "sum(shared_blks_hit)",
    "pg_stat_statements_shared_blocks_read_total": "sum(shared_blks_read)",
    "pg_stat_statements_shared_blocks_dirtied_total": "sum(shared_blks_dirtied)",
    "pg_stat_statements_shared_blocks_written_total": "sum(shared_blks_written)",
    "pg_stat_statements_wal_bytes_total": "sum(wal_bytes)",
    "pg_stat_statements_seconds_total": "sum(total_exec_time) / 1000",
}
TABLES = 45
# Kept as written by pg_stat_statements in the text of CREATE ROLE.
ROLE_PASSWORD = secret("hunter2-do-not-show")
TOP_N = 10

SeriesId = tuple[str, tuple[tuple[str, str], ...]]


def name(prefix: str) -> str:
    return f"pgmon_stmt_{prefix}_{uuid.uuid4().hex[:8]}"


def server_totals(server: Server) -> dict[str, float]:
    columns = sql.SQL(", ").join(sql.SQL(expr) for expr in SERVER_TOTALS.values())
    row = server.execute(
        sql.SQL("SELECT {} FROM pg_stat_statements(false) WHERE toplevel").format(columns)
    )[0]
    return {metric: float(value) for metric, value in zip(SERVER_TOTALS, row, strict=True)}


def series(got: Collected) -> dict[SeriesId, float]:
    found: dict[SeriesId, float] = {}
    for metric in STATEMENT_METRICS:
        for labels, value in got.samples(metric):
            key = (metric, tuple(sorted(labels.items())))
            assert key not in found, f"duplicate series {key}"
            found[key] = value
    return found


def statement_queryids(got: Collected) -> set[str]:
    return {lbl["queryid"] for lbl, _ in got.samples(CALLS) if lbl["queryid"] != "other"}


def statement_series(got: Collected) -> set[tuple[str, str, str]]:
    """(user, datname, queryid) of the top-N series: one queryid may run as several roles."""
    return {
        (lbl["user"], lbl["datname"], lbl["queryid"])
        for lbl, _ in got.samples(CALLS)
        if lbl["queryid"] != "other"
    }


def queryid_of(server: Server, pattern: str) -> str:
    rows = server.execute(
        "SELECT DISTINCT queryid FROM pg_stat_statements WHERE query LIKE %s AND toplevel",
        [pattern],
    )
    assert len(rows) == 1, f"{pattern}: {rows}"
    return str(rows[0][0])


def assert_no_decrease(before: Collected, after: Collected) -> None:
    now = series(after)
    for key, value in series(before).items():
        if key in now:
            assert now[key] >= value, key


@pytest.fixture
def tables(pg_cluster: Cluster) -> Iterator[list[str]]:
    """TABLES small tables; a SELECT on each is a statement of its own (its own queryid)."""
    names = [name(f"t{i}") for i in range(TABLES)]
    with pg_cluster.primary.connect() as conn:
        for table in names:
            conn.execute(
                sql.SQL("CREATE TABLE {} AS SELECT g AS id FROM generate_series(1, 100) g").format(
                    sql.Identifier(table)
                )
            )
    try:
        yield names
    finally:
        with pg_cluster.primary.connect() as conn:
            for table in names:
                conn.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))


def select_each(server: Server, tables: list[str], user: str = "postgres") -> None:
    """Table i is read i + 1 times, so the statements differ in how busy they are."""
    with server.connect(user=user) as conn:
        for i, table in enumerate(tables):
            query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table))
            for _ in range(i + 1):
                conn.execute(query)


@pytest.fixture
def quiet_monitor(pg_cluster: Cluster) -> Iterator[str]:
    """A pg_monitor role whose own statements pg_stat_statements does not track, so that the
    server's totals read right after a run are exactly what the run saw."""
    role = name("quiet")
    primary = pg_cluster.primary
    primary.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    primary.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(role)))
    primary.execute(
        sql.SQL("ALTER ROLE {} SET pg_stat_statements.track = 'none'").format(sql.Identifier(role))
    )
    try:
        yield role
    finally:
        primary.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_remainder_keeps_sums_exact(
    pg_cluster: Cluster, tables: list[str], quiet_monitor: str
) -> None:
    primary = pg_cluster.primary
    state: dict[str, Any] = {}
    select_each(primary, tables)
    first = collect(SPEC, primary.dsn(user=quiet_monitor), top_n=TOP_N, state=state)
    expected = server_totals(primary)
    assert len(statement_series(first)) == TOP_N
    # First run: lifetime values, so top N plus the remainder are the server's totals.
    for metric, total in expected.items():
        if metric == "pg_stat_statements_seconds_total":
            assert first.total(metric) == pytest.approx(total, rel=1e-9)
        else:
            assert first.total(metric) == total, metric

    # Other statements get busy; some series leave the top N, others join it. The latest
    # values of every series exported so far still add up to the server's totals.
    select_each(primary, tables[:20])
    second = collect(SPEC, primary.dsn(user=quiet_monitor), top_n=TOP_N, state=state)
    expected = server_totals(primary)
    assert statement_series(second) != statement_series(first)
    assert_no_decrease(first, second)
    latest = series(first) | series(second)
    for metric, total in expected.items():
        exported = sum(v for (m, _), v in latest.items() if m == metric)
        if metric == "pg_stat_statements_seconds_total":
            assert exported == pytest.approx(total, rel=1e-9)
        else:
            assert exported == total, metric
    # The series exposed now never claim more than the server has.
    assert second.total(CALLS) <= expected[CALLS]


def test_recent_activity_reaches_the_top_n(pg_cluster: Cluster, tables: list[str]) -> None:
    primary = pg_cluster.primary
    state: dict[str, Any] = {}
    select_each(primary, tables)
    dsn = primary.dsn(user=MONITOR_ROLE)
    first = collect(SPEC, dsn, top_n=TOP_N, state=state)

    # Quiet statements until now: the first table was read once. Spelled with odd
    # whitespace and a long tail, to see the text normalised and cut.
    hot_table = tables[0]
    filler = " AND ".join(f"id <> {k}" for k in range(1000, 1030))
    statement = sql.SQL("SELECT   count(*)\n\t FROM  {}\n  WHERE id > 5 AND " + filler).format(
        sql.Identifier(hot_table)
    )
    with primary.connect() as conn:
        for _ in range(500):
            conn.execute(statement)
    hot = queryid_of(primary, f'%FROM  "{hot_table}"\n  WHERE id > $1%')
    assert hot not in statement_queryids(first)

    second = collect(SPEC, dsn, top_n=TOP_N, state=state)
    assert hot in statement_queryids(second)
    assert second.value(CALLS, user="postgres", datname="postgres", queryid=hot) == 500
    assert_no_decrease(first, second)

    # The info metric: exactly the top-N series, with normalised text cut to 120 characters.
    info = {
        (lbl["user"], lbl["datname"], lbl["queryid"]): lbl["query"]
        for lbl, _ in second.samples(INFO)
    }
    assert set(info) == statement_series(second)
    assert len(info) == TOP_N
    text = info[("postgres", "postgres", hot)]
    assert text.startswith(f'SELECT count(*) FROM "{hot_table}" WHERE id > $1 AND id <> $2 AND ')
    assert len(text) == 120
    assert all("\n" not in t and "  " not in t for t in info.values())


@pytest.fixture
def two_roles(pg_cluster: Cluster) -> Iterator[tuple[str, str, str]]:
    alice, bob, table = name("alice"), name("bob"), name("shared")
    primary = pg_cluster.primary
    for role in (alice, bob):
        primary.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    primary.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier(table)))
    primary.execute(
        sql.SQL("GRANT SELECT ON {} TO {}, {}").format(
            sql.Identifier(table), sql.Identifier(alice), sql.Identifier(bob)
        )
    )
    try:
        yield alice, bob, table
    finally:
        primary.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(sql.Identifier(table)))
        for role in (alice, bob):
            primary.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_two_roles_running_the_same_statement_get_two_series(
    pg_cluster: Cluster, two_roles: tuple[str, str, str]
) -> None:
    alice, bob, table = two_roles
    primary = pg_cluster.primary
    # Earlier tests leave thousands of entries; start from none so ours cannot be evicted
    # or ranked out of the top N.
    primary.execute("SELECT pg_stat_statements_reset()")
    statement = sql.SQL("SELECT id FROM {} WHERE id = 7").format(sql.Identifier(table))
    for role, times in ((alice, 3), (bob, 5)):
        with primary.connect(user=role) as conn:
            for _ in range(times):
                conn.execute(statement)
    queryid = queryid_of(primary, f'SELECT id FROM "{table}" WHERE id = $1')

    got = collect(SPEC, primary.dsn(user=MONITOR_ROLE), top_n=1000)
    assert got.value(CALLS, user=alice, datname="postgres", queryid=queryid) == 3
    assert got.value(CALLS, user=bob, datname="postgres", queryid=queryid) == 5
    assert len(got.samples(INFO)) == len(
        {tuple(sorted(lbl.items())) for lbl, _ in got.samples(INFO)}
    )


@pytest.fixture
def role_with_password(pg_cluster: Cluster) -> Iterator[str]:
    role = name("pw")
    pg_cluster.primary.execute(
        sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            sql.Identifier(role), sql.Literal(ROLE_PASSWORD)
        )
    )
    try:
        yield role
    finally:
        pg_cluster.primary.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_query_text_hides_string_literals(pg_cluster: Cluster, role_with_password: str) -> None:
    # pg_stat_statements keeps utility statements as written, password included.
    primary = pg_cluster.primary
    queryid = queryid_of(primary, f'CREATE ROLE "{role_with_password}" LOGIN PASSWORD %')
    got = collect(SPEC, primary.dsn(user=MONITOR_ROLE), top_n=5000)
    texts = {lbl["queryid"]: lbl["query"] for lbl, _ in got.samples(INFO)}
    assert texts[queryid] == f"CREATE ROLE \"{role_with_password}\" LOGIN PASSWORD '***'"
    assert not any(ROLE_PASSWORD in text for text in texts.values())


def test_dropped_role_shows_as_its_oid(pg_cluster: Cluster) -> None:
    primary, role = pg_cluster.primary, name("gone")
    primary.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        oid = primary.scalar("SELECT oid FROM pg_roles WHERE rolname = %s", [role])
        with primary.connect(user=role) as conn:
            conn.execute("SELECT 42 AS answer")
    finally:
        primary.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
    queryid = queryid_of(primary, "SELECT $1 AS answer")
    got = collect(SPEC, primary.dsn(user=MONITOR_ROLE), top_n=5000)
    assert got.value(CALLS, user=str(oid), datname="postgres", queryid=queryid) == 1


def test_reset_between_runs(pg_cluster: Cluster, tables: list[str]) -> None:
    primary = pg_cluster.primary
    state: dict[str, Any] = {}
    dsn = primary.dsn(user=MONITOR_ROLE)
    select_each(primary, tables)
    first = collect(SPEC, dsn, top_n=TOP_N, state=state)
    reset_before = first.value("pg_stat_statements_stats_reset_timestamp_seconds")

    time.sleep(0.01)  # stats_reset has microseconds; make sure it moves
    primary.execute("SELECT pg_stat_statements_reset()")
    # After the reset: the busiest statements run less than before, one of the quiet ones
    # runs more than its old count, so raw counters go down for some and up for others.
    select_each(primary, tables[-3:])
    with primary.connect() as conn:
        query = sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(tables[0]))
        for _ in range(80):
            conn.execute(query)
    second = collect(SPEC, dsn, top_n=TOP_N, state=state)

    series(second)  # no duplicate series
    assert_no_decrease(first, second)
    reset_after = second.value("pg_stat_statements_stats_reset_timestamp_seconds")
    assert reset_before is not None and reset_after is not None and reset_after > reset_before
    hot = queryid_of(primary, f'SELECT count(*) FROM "{tables[0]}"')
    old = first.value(CALLS, user="postgres", datname="postgres", queryid=hot) or 0.0
    # All 80 calls since the reset are counted, on top of what the series had before.
    assert second.value(CALLS, user="postgres", datname="postgres", queryid=hot) == old + 80


def test_summary_metrics(pg_cluster: Cluster) -> None:
    primary = pg_cluster.primary
    got = collect(SPEC, primary.dsn(user=MONITOR_ROLE))
    entries = primary.scalar("SELECT count(*) FROM pg_stat_statements")
    assert got.value("pg_settings_pg_stat_statements_max") == 5000
    # The run's own statements may add entries after it counted.
    assert 0 < (got.value("pg_stat_statements_entries") or 0) <= entries
    assert got.value("pg_stat_statements_deallocations_total") == 0
    assert got.value("pg_stat_statements_stats_reset_timestamp_seconds") == pytest.approx(
        float(
            primary.scalar("SELECT extract(epoch FROM stats_reset) FROM pg_stat_statements_info")
        ),
        abs=1e-3,
    )
    assert got.value(CALLS, **OTHER) is not None


@pytest.fixture
def nested_function(pg_cluster: Cluster) -> Iterator[str]:
    """A function whose one statement is nested: tracked as an entry of its own only with
    pg_stat_statements.track = 'all'."""
    function = name("nested")
    pg_cluster.primary.execute(
        sql.SQL(
            "CREATE FUNCTION {}() RETURNS bigint LANGUAGE plpgsql AS "
            "$$BEGIN RETURN (SELECT count(*) FROM pg_class AS pgmon_nested); END$$"
        ).format(sql.Identifier(function))
    )
    try:
        yield function
    finally:
        pg_cluster.primary.execute(
            sql.SQL("DROP FUNCTION IF EXISTS {}()").format(sql.Identifier(function))
        )


def test_nested_statements_are_entries_but_not_series(
    pg_cluster: Cluster, nested_function: str
) -> None:
    primary = pg_cluster.primary
    primary.execute("SELECT pg_stat_statements_reset()")  # none evicted while we count
    with primary.connect() as conn:
        conn.execute("SET pg_stat_statements.track = 'all'")
        conn.execute(sql.SQL("SELECT {}()").format(sql.Identifier(nested_function)))
    nested = {
        str(row[0])
        for row in primary.execute(
            "SELECT queryid FROM pg_stat_statements WHERE NOT toplevel AND query LIKE %s",
            ["%pgmon_nested%"],
        )
    }
    assert len(nested) == 1
    before = primary.scalar("SELECT count(*) FROM pg_stat_statements")
    got = collect(SPEC, primary.dsn(user=MONITOR_ROLE), top_n=5000)
    after = primary.scalar("SELECT count(*) FROM pg_stat_statements")
    # Entries of the run's own statements may appear after it counted.
    assert before <= (got.value("pg_stat_statements_entries") or 0) <= after
    assert not nested & statement_queryids(got)
    caller = queryid_of(primary, f'SELECT "{nested_function}"()')
    assert caller in statement_queryids(got)


@pytest.fixture
def database_without_extension(pg_cluster: Cluster) -> Iterator[str]:
    with new_database(pg_cluster.primary, "pgmon_stmt_noext") as datname:
        yield datname


def test_unavailable_without_the_extension(
    pg_cluster: Cluster, database_without_extension: str
) -> None:
    dsn = pg_cluster.primary.dsn(dbname=database_without_extension, user=MONITOR_ROLE)
    with pytest.raises(Unavailable, match="not created in this database"):
        collect(SPEC, dsn)


@pytest.fixture
def unprivileged_role(pg_cluster: Cluster) -> Iterator[str]:
    role = name("nobody")
    pg_cluster.primary.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        pg_cluster.primary.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def test_unavailable_without_privilege(pg_cluster: Cluster, unprivileged_role: str) -> None:
    with pytest.raises(Unavailable, match="pg_read_all_stats"):
        collect(SPEC, pg_cluster.primary.dsn(user=unprivileged_role))


@pytest.fixture
def tracked_monitor(pg_cluster: Cluster) -> Iterator[str]:
    """A pg_monitor role whose own statements pg_stat_statements does track: what pgmon
    asked the server shows in the view."""
    role = name("tracked")
    primary = pg_cluster.primary
    primary.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)))
    primary.execute(sql.SQL("GRANT pg_monitor TO {}").format(sql.Identifier(role)))
    try:
        yield role
    finally:
        primary.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def text_reads_by(server: Server, role: str) -> int:
    """Statements `role` ran that read pg_stat_statements' query texts: statements_text,
    the only query that joins the view to unnest()."""
    return int(
        server.scalar(
            "SELECT count(*) FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid "
            "WHERE r.rolname = %s AND s.query LIKE %s",
            [role, "%JOIN unnest(%"],
        )
    )


def test_query_text_turned_off_is_never_read(
    pg_cluster: Cluster, tables: list[str], tracked_monitor: str
) -> None:
    primary = pg_cluster.primary
    select_each(primary, tables)
    dsn = primary.dsn(user=tracked_monitor)
    got = collect(SPEC, dsn, top_n=TOP_N, query_text=False)
    assert got.samples(INFO) == []
    assert len(statement_series(got)) == TOP_N  # the counters are all there
    assert text_reads_by(primary, tracked_monitor) == 0
    # The same role with text on does read it: the check above can fail.
    assert len(collect(SPEC, dsn, top_n=TOP_N).samples(INFO)) == TOP_N
    assert text_reads_by(primary, tracked_monitor) == 1


def test_query_text_setting_in_the_daemon(pg_cluster: Cluster, tables: list[str]) -> None:
    select_each(pg_cluster.primary, tables)
    only_statements = {spec.name: {"enabled": spec.name == "statements"} for spec in ALL}
    config = {
        "targets": [{"name": "p", "dsn": pg_cluster.primary.dsn(user=MONITOR_ROLE)}],
        "collectors": only_statements | {"statements": {"query_text": False}},
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        body = daemon.get("/metrics")[2].decode()
    assert "\npg_stat_statements_calls_total{" in body
    assert INFO not in body.replace(f"# HELP {INFO} ", "").replace(f"# TYPE {INFO} ", "")
    assert not any(table in body for table in tables)


def test_no_text_for_a_role_that_cannot_see_it(
    pg_cluster: Cluster, tables: list[str], unprivileged_role: str
) -> None:
    """Without pg_read_all_stats pg_stat_statements hides other roles' text (and queryid);
    pgmon, connected as such a role, reports the collector unavailable and exports none."""
    primary = pg_cluster.primary
    select_each(primary, tables)
    with primary.connect(user=unprivileged_role) as conn:
        shown = conn.execute(
            "SELECT DISTINCT query FROM pg_stat_statements WHERE userid <> %s::regrole",
            [unprivileged_role],
        ).fetchall()
    assert shown == [("<insufficient privilege>",)]
    only_statements = {spec.name: {"enabled": spec.name == "statements"} for spec in ALL}
    config = {
        "targets": [{"name": "p", "dsn": primary.dsn(user=unprivileged_role)}],
        "collectors": only_statements,
    }
    with Daemon(config) as daemon:
        daemon.wait_ready()
        series = daemon.scrape()
        body = daemon.get("/metrics")[2].decode()
    assert series_value(series, "pgmon_collector_available", collector="statements") == 0
    assert f"\n{INFO}{{" not in body
    assert "insufficient privilege" not in body
    assert not any(table in body for table in tables)


@pytest.mark.pg("<17")
def test_pg13_queries_run(pg_cluster: Cluster, tables: list[str]) -> None:
    """The PG13 files use only columns later versions (before 17) still have: run them here,
    as a PG13 server would get them (there is no PG13 in the test matrix)."""
    primary = pg_cluster.primary
    select_each(primary, tables)
    with psycopg.connect(primary.dsn(user=MONITOR_ROLE), row_factory=namedtuple_row) as conn:
        conn.read_only = True
        with conn.transaction():
            ctx = RunContext(conn, 130000, "postgres", TOP_N, {}, time.monotonic() + 30)
            got = Collected(build_families(SPEC.by_name, TARGET, list(SPEC.collect(ctx))))
    assert len(statement_series(got)) == TOP_N
    assert len(got.samples(INFO)) == TOP_N
    assert got.samples("pg_stat_statements_deallocations_total") == []
    assert (got.value("pg_stat_statements_entries") or 0) > TABLES
