"""statements collector: rows in, samples out, the ledger carried between runs (no database)."""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import pytest

from monitor.collectors import statements
from monitor.collectors.statements import (
    COUNTERS,
    RETAIN_RUNS,
    Key,
    Ledger,
    Series,
    account,
    availability_problem,
    entries_from_rows,
    query_info_samples,
    statement_samples,
    summary_samples,
)
from tests.collecting import TARGET, Collected, collected

Row = namedtuple(
    "Row",
    "queryid userid dbid rolname datname stats_since calls exec_seconds rows shared_blks_hit "
    "shared_blks_read shared_blks_dirtied shared_blks_written block_read_seconds "
    "block_write_seconds wal_bytes plan_seconds",
)
Summary = namedtuple("Summary", "max_entries deallocations stats_reset")
Available = namedtuple("Available", "schema extversion preload read_all_stats can_execute")

METRICS = [c.metric.name for c in COUNTERS]
CALLS = "pg_stat_statements_calls_total"
SECONDS = "pg_stat_statements_seconds_total"
ROLES = {10: "alice", 11: "bob"}
T0 = datetime(2025, 1, 1, tzinfo=UTC)


@dataclass
class FakeServer:
    """A pg_stat_statements that statements run against; yields rows like the poll query."""

    entries: dict[Key, list[float]] = field(default_factory=dict)
    since: dict[Key, datetime] = field(default_factory=dict)
    stats_reset: datetime = T0
    clock: datetime = T0

    def run(self, queryid: int, times: int = 1, seconds: float = 0.01, userid: int = 10) -> None:
        key = (queryid, userid, 5)
        if key not in self.entries:
            self.entries[key] = [0.0] * len(COUNTERS)
            self.clock += timedelta(seconds=1)
            self.since[key] = self.clock
        counters = self.entries[key]
        # calls, seconds, rows, hit, read, dirtied, written, read s, write s, wal, plan s
        step = [1, seconds, 3, 10, 2, 1, 1, seconds / 10, seconds / 20, 100, seconds / 5]
        for i, amount in enumerate(step):
            counters[i] += amount * times

    def reset(self) -> None:
        self.entries.clear()
        self.stats_reset += timedelta(hours=1)

    def evict(self, key: Key) -> None:
        del self.entries[key]

    def rows(self, with_since: bool = False) -> list[Row]:
        return [
            Row(key[0], key[1], key[2], ROLES.get(key[1], str(key[1])), "app",
                self.since[key] if with_since else None, *counters)
            for key, counters in self.entries.items()
        ]  # fmt: skip

    def total(self, metric: str) -> float:
        column = METRICS.index(metric)
        return sum(counters[column] for counters in self.entries.values())


@dataclass
class Monitor:
    """The collector's side: the ledger between runs, and every value it ever exposed."""

    top_n: int
    ledger: Ledger | None = None
    last_seen: dict[tuple[str, tuple[str, ...]], float] = field(default_factory=dict)

    def poll(self, server: FakeServer, with_since: bool = False) -> Collected:
        before = self.ledger
        self.ledger, top = account(
            entries_from_rows(server.rows(with_since)), before, self.top_n, server.stats_reset
        )
        got = read(statement_samples(top, self.ledger.other))
        for metric in METRICS:
            for labels, value in got.samples(metric):
                self.last_seen[(metric, tuple(sorted(labels.items())))] = value
        return got

    def ever_exported(self, metric: str) -> float:
        """Sum of the latest value of every series exported so far (what Prometheus keeps)."""
        return sum(v for (m, _), v in self.last_seen.items() if m == metric)


read = partial(collected, statements.SPEC)  # samples -> what a scrape reads


def series_values(got: Collected) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (metric, tuple(sorted(labels.items()))): value
        for metric in METRICS
        for labels, value in got.samples(metric)
    }


def queryids(got: Collected) -> set[str]:
    return {labels["queryid"] for labels, _ in got.samples(CALLS)}


def assert_never_decreases(before: Collected, after: Collected) -> None:
    now = series_values(after)
    for series, value in series_values(before).items():
        if series in now:
            assert now[series] >= value, series


def busy_server(statements_count: int = 12) -> FakeServer:
    server = FakeServer()
    for q in range(1, statements_count + 1):
        server.run(q, times=q, seconds=0.01 * q)  # q=12 is the busiest over its lifetime
    return server


def test_first_run_ranks_by_lifetime_time_and_sums_match() -> None:
    server = busy_server()
    got = Monitor(top_n=3).poll(server)
    assert queryids(got) == {"12", "11", "10", "other"}
    assert got.value(CALLS, user="alice", datname="app", queryid="12") == 12
    assert got.value(CALLS, user="", datname="", queryid="other") == sum(range(1, 10))
    for metric in METRICS:
        assert got.total(metric) == pytest.approx(server.total(metric), rel=1e-12), metric


def test_second_run_ranks_by_recent_activity() -> None:
    server, monitor = busy_server(), Monitor(top_n=3)
    monitor.poll(server)
    server.run(1, times=5, seconds=1.0)  # little in its lifetime, busiest since the last run
    server.run(2, times=1, seconds=0.5)
    got = monitor.poll(server)
    assert queryids(got) == {"1", "2", "12", "other"}  # 12 keeps its place among the idle
    assert got.value(CALLS, user="alice", datname="app", queryid="1") == 5
    for metric in METRICS:
        assert got.total(metric) <= server.total(metric) + 1e-9


def test_no_series_decreases_when_membership_changes() -> None:
    server, monitor = busy_server(), Monitor(top_n=3)
    previous = monitor.poll(server)
    other_before = previous.value(CALLS, user="", datname="", queryid="other")
    for busy in (1, 2, 3, 12, 1, 4, 5, 12, 6):
        server.run(busy, times=3, seconds=2.0)  # one statement at a time takes the lead
        got = monitor.poll(server)
        assert_never_decreases(previous, got)
        previous = got
    other_after = previous.value(CALLS, user="", datname="", queryid="other")
    assert other_before is not None and other_after is not None
    assert other_after >= other_before


def test_every_event_is_counted_once() -> None:
    server, monitor = busy_server(), Monitor(top_n=3)
    first = monitor.poll(server)
    assert first.total(CALLS) == server.total(CALLS)
    for step, busy in enumerate((1, 2, 3, 12, 1, 4, 5, 12, 6, 7, 8, 9)):
        server.run(busy, times=step + 1, seconds=1.0 + step)
        server.run(30 + step)  # and new statements keep appearing
        got = monitor.poll(server)
        # What Prometheus keeps, the latest value of every series ever exported, adds up to
        # the server's totals, although series dropped out of the top N on the way ...
        for metric in METRICS:
            assert monitor.ever_exported(metric) == pytest.approx(server.total(metric)), metric
        # ... and the series exposed now never claim more than the server has.
        assert got.total(CALLS) <= server.total(CALLS)


def test_series_that_returns_continues_from_its_value() -> None:
    server, monitor = busy_server(), Monitor(top_n=1)
    first = monitor.poll(server)
    value = first.value(CALLS, user="alice", datname="app", queryid="12")
    server.run(1, times=10, seconds=5.0)
    assert queryids(monitor.poll(server)) == {"1", "other"}
    server.run(12, times=2, seconds=9.0)
    back = monitor.poll(server)
    assert queryids(back) == {"12", "other"}
    assert value is not None
    assert back.value(CALLS, user="alice", datname="app", queryid="12") == value + 2


def test_full_reset_keeps_series_monotonic() -> None:
    server, monitor = busy_server(), Monitor(top_n=3)
    before = monitor.poll(server)
    server.reset()
    server.run(12, times=2, seconds=0.5)  # 2 calls since the reset: fewer than its old 12
    server.run(11, times=50, seconds=0.4)  # 50 calls since the reset: more than its old 11
    server.run(99)
    after = monitor.poll(server)
    assert_never_decreases(before, after)
    # Both count what happened after the reset in full, whether or not the raw counter
    # fell below its old value.
    assert after.value(CALLS, user="alice", datname="app", queryid="12") == 12 + 2
    assert after.value(CALLS, user="alice", datname="app", queryid="11") == 11 + 50
    assert after.value(CALLS, user="alice", datname="app", queryid="99") == 1
    labels = [tuple(sorted(lbl.items())) for lbl, _ in after.samples(CALLS)]
    assert len(labels) == len(set(labels)) == 4


def test_entry_evicted_and_created_again_is_seen_as_new() -> None:
    server, monitor = busy_server(), Monitor(top_n=3)
    monitor.poll(server)
    server.evict((12, 10, 5))
    server.run(12, times=1, seconds=0.1)  # created again, counting from zero
    got = monitor.poll(server)
    assert got.value(CALLS, user="alice", datname="app", queryid="12") == 12 + 1


def test_stats_since_tells_a_recreated_entry_from_an_old_one() -> None:
    # PG17+: the entry was re-created and has passed its old counts again; only stats_since
    # shows that all of its counts are new.
    server, monitor = busy_server(), Monitor(top_n=3)
    monitor.poll(server, with_since=True)
    server.evict((12, 10, 5))
    server.run(12, times=20, seconds=0.5)
    got = monitor.poll(server, with_since=True)
    assert got.value(CALLS, user="alice", datname="app", queryid="12") == 12 + 20


def test_two_roles_running_the_same_statement_get_two_series() -> None:
    server = FakeServer()
    server.run(7, times=3, userid=10)
    server.run(7, times=4, userid=11)
    server.run(8, times=1)
    got = Monitor(top_n=2).poll(server)
    assert got.value(CALLS, user="alice", datname="app", queryid="7") == 3
    assert got.value(CALLS, user="bob", datname="app", queryid="7") == 4
    assert got.value(CALLS, user="", datname="", queryid="other") == 1


def test_dropped_role_shows_as_oid() -> None:
    server = FakeServer()
    server.run(7, userid=4242)
    got = Monitor(top_n=5).poll(server)
    assert got.value(CALLS, user="4242", datname="app", queryid="7") == 1


def test_top_n_zero_leaves_only_the_remainder() -> None:
    server = busy_server()
    got = Monitor(top_n=0).poll(server)
    assert queryids(got) == {"other"}
    assert got.value(CALLS, user="", datname="", queryid="other") == server.total(CALLS)


def test_remainder_is_exposed_on_an_empty_server() -> None:
    got = Monitor(top_n=5).poll(FakeServer())
    assert got.samples(SECONDS) == [
        ({"target": TARGET, "user": "", "datname": "", "queryid": "other"}, 0.0)
    ]


def test_values_of_series_gone_for_long_are_forgotten() -> None:
    server, monitor = busy_server(2), Monitor(top_n=1)
    monitor.poll(server)
    assert monitor.ledger is not None and (2, 10, 5) in monitor.ledger.exposed
    for _ in range(RETAIN_RUNS + 1):
        server.run(1, seconds=10.0)
        monitor.poll(server)
    assert (2, 10, 5) not in monitor.ledger.exposed
    server.run(2, times=5, seconds=100.0)
    got = monitor.poll(server)
    # Starts again from what it did since the last run: Prometheus sees a counter reset.
    assert got.value(CALLS, user="alice", datname="app", queryid="2") == 5


def test_account_leaves_the_previous_ledger_alone() -> None:
    server = busy_server()
    ledger, _ = account(entries_from_rows(server.rows()), None, 3, T0)
    raw, exposed, other = dict(ledger.raw), dict(ledger.exposed), ledger.other
    server.run(1, times=10, seconds=9.0)
    account(entries_from_rows(server.rows()), ledger, 3, T0)
    assert (dict(ledger.raw), dict(ledger.exposed), ledger.other) == (raw, exposed, other)


def test_query_info_only_for_the_top_n() -> None:
    top = [Series((7, 10, 5), "alice", "app", (0.0,) * len(COUNTERS))]
    got = read(query_info_samples(top, {(7, 10, 5): "SELECT $1", (8, 10, 5): "SELECT 2"}))
    assert got.samples("pg_stat_statements_query_info") == [
        (
            {"target": TARGET, "user": "alice", "datname": "app", "queryid": "7",
             "query": "SELECT $1"},
            1.0,
        )
    ]  # fmt: skip


def test_summary_pg13_has_no_deallocations() -> None:
    got = read(summary_samples([Summary(5000, None, None)], 42))
    assert got.value("pg_stat_statements_entries") == 42
    assert got.value("pg_settings_pg_stat_statements_max") == 5000
    assert got.samples("pg_stat_statements_deallocations_total") == []
    assert got.samples("pg_stat_statements_stats_reset_timestamp_seconds") == []


def test_summary_pg14() -> None:
    got = read(summary_samples([Summary(5000, 3, T0)], 42))
    assert got.value("pg_stat_statements_deallocations_total") == 3
    assert got.value("pg_stat_statements_stats_reset_timestamp_seconds") == T0.timestamp()


def test_summary_without_the_setting_still_counts_entries() -> None:
    got = read(summary_samples([Summary(None, None, None)], 0))
    assert got.value("pg_stat_statements_entries") == 0
    assert got.samples("pg_settings_pg_stat_statements_max") == []


GOOD = Available("public", "1.11", "auto_explain, pg_stat_statements", True, True)


@pytest.mark.parametrize(
    ("row", "version", "problem"),
    [
        (GOOD, 170000, None),
        (GOOD._replace(preload=None), 170000, None),  # not visible: the savepoint decides
        (GOOD._replace(preload='"$libdir/pg_stat_statements.so"'), 170000, None),
        (GOOD._replace(schema=None, extversion=None), 170000, "not created"),
        (GOOD._replace(preload="auto_explain"), 170000, "shared_preload_libraries"),
        (GOOD._replace(extversion="1.10"), 170000, "ALTER EXTENSION"),
        (GOOD._replace(extversion="1.10"), 160000, None),
        (GOOD._replace(extversion="1.8"), 150000, "ALTER EXTENSION"),
        (GOOD._replace(extversion="1.8"), 130000, None),
        (GOOD._replace(can_execute=False), 170000, "EXECUTE"),
        (GOOD._replace(read_all_stats=False), 170000, "pg_read_all_stats"),
    ],
)
def test_availability(row: Available, version: int, problem: str | None) -> None:
    found = availability_problem(row, version)
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found


def test_spec() -> None:
    spec = statements.SPEC
    assert (spec.name, spec.interval, spec.timeout, spec.top_n, spec.per_database) == (
        "statements", 60.0, 30.0, 100, False,
    )  # fmt: skip
    for name in (
        "pg_stat_statements_calls_total",
        "pg_stat_statements_seconds_total",
        "pg_stat_statements_rows_total",
        "pg_stat_statements_block_read_seconds_total",
        "pg_stat_statements_block_write_seconds_total",
    ):
        assert spec.by_name[name].kind == "counter"
        assert spec.by_name[name].labels == ("user", "datname", "queryid")


def test_rows_sharing_a_key_are_merged() -> None:
    # Cannot happen with the SQL chosen by version (the key is unique), but a duplicated
    # series would make the whole scrape invalid, so it is ruled out here too.
    server = FakeServer()
    server.run(7, times=3)
    rows = server.rows() * 2
    _, top = account(entries_from_rows(rows), None, 5, T0)
    assert len(top) == 1
    assert top[0].counters[0] == 6


def test_the_placeholder_for_hidden_text_is_not_text() -> None:
    assert statements.shown_text("<insufficient privilege>") == ""
    assert statements.shown_text("SELECT $1") == "SELECT $1"
