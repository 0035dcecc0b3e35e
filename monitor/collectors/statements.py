"""statements: pg_stat_statements per statement, role and database, bounded to the top N.

Which statements get a series: the top N entries (`top_n`, default 100) by execution time
spent since the previous run, i.e. by recent activity; on the first run, with nothing to
compare with, by lifetime execution time. Ties (idle entries) keep the series that were
already exposed, so quiet periods do not reshuffle them. Everything else is summed into one
remainder series per metric, labelled queryid="other", user="", datname="".

What the counters count (a ledger kept in `ctx.state`): pgmon remembers the raw counters of
every entry and the value it exposed for every statement series. Each run it works out what
each entry did since the previous run (its delta) and adds that to exactly one series: the
entry's own when it is in this run's top N, the remainder otherwise. Hence:

- No series ever decreases: not when an entry enters or leaves the top N, and not when
  pg_stat_statements is reset or an entry is evicted and created again. Such an entry's
  counters are all new activity, so they are added whole instead of being compared with the
  old ones. A reset is seen from pg_stat_statements_info.stats_reset (PG14+), from
  stats_since (PG17+) and from any counter of an entry going down (every version; PG13
  cannot tell a reset entry that passed its old counts before the next run, and undercounts it).
- The increases of all series between two runs add up exactly to the server's increase, so
  sum(rate(...)) over all series is the server's total rate, and each event is counted in
  exactly one series. Activity of an entry evicted before pgmon saw it is lost.
- On the first run the values are the entries' lifetime counters, so the series add up to
  the server's totals. From then on the latest values of all series pgmon has exported,
  including those that dropped out of the top N, add up to the server's totals as long as
  no entry was evicted or reset. The series currently exposed alone do not: the remainder
  is never given the value of a series that leaves, because that would show up as a burst
  in rate() of the remainder that never happened.
- A series that leaves the top N just stops. When its entry comes back within RETAIN_RUNS
  runs it continues from the value it had; later it starts again from the activity since
  the previous run, which Prometheus reads as a counter reset that adds exactly that.
- The ledger lives in memory: after pgmon restarts, the first run starts over from the
  lifetime counters, and Prometheus sees counter resets.

Only top-level statements count (PG14+): with pg_stat_statements.track = 'all' a nested
statement has its own entry (toplevel = false) whose time is also in the calling
statement's entry, so its counts would be added twice. An entry is therefore identified by
(queryid, userid, dbid). PG13 cannot tell nested statements apart and counts them as they
come. Roles and databases are shown by name; an entry whose role or database no longer
exists shows the oid, so that two such entries never share labels.

Query text is never a label of a counter: pg_stat_statements_query_info carries it for the
top N only, with string literals replaced by '***' (utility statements such as CREATE ROLE
... PASSWORD '...' are kept as written by pg_stat_statements), whitespace collapsed, and
cut to 120 characters. Counters are polled with pg_stat_statements(false); text is fetched
only for top-N entries whose text is not cached yet. With `query_text` off no text is read
and pg_stat_statements_query_info is not exported. pg_stat_statements shows other roles'
text as "<insufficient privilege>" to a role without pg_read_all_stats (which this collector
requires anyway, for their queryids); that placeholder is never exported as text.
"""

from __future__ import annotations

import heapq
import posixpath
from collections import namedtuple
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import itemgetter
from typing import Any

import psycopg
from psycopg import sql

from monitor.collectors.base import (
    CollectorSpec,
    Row,
    RunContext,
    SampleMemo,
    Unavailable,
    epoch,
    label,
    number,
    samples_from_rows,
)
from monitor.metrics import MetricSpec, Sample, counter, gauge, info
from monitor.sql import query_for

DEFAULT_TOP_N = 100
# Runs a series that left the top N keeps its value for when it comes back (an hour at the
# default interval); bounds the ledger at top_n * RETAIN_RUNS exposed values.
RETAIN_RUNS = 60
STATE_KEY = "ledger"
OTHER_LABELS = ("", "", "other")
QUERY_LABEL_CHARS = 120  # the SQL cuts the text; kept here so tests and docs can say so
# What pg_stat_statements shows instead of the text of a statement the role may not see.
HIDDEN_TEXT = "<insufficient privilege>"
# What the SQL needs from the extension, by server version: PG14 added toplevel (1.9),
# PG17 renamed the block times and added stats_since (1.11). A cluster upgraded without
# ALTER EXTENSION ... UPDATE still has the old view.
REQUIRED_EXTENSION = ((170000, "1.11"), (140000, "1.9"), (0, "1.8"))

_RANKING = (
    " The top N statements by execution time since the previous run have their own series"
    ' (by lifetime execution time on the first run); the rest add up in queryid="other".'
    " Top-level statements only (PG14+). Accumulated by pgmon: never decreases, not even"
    " on a pg_stat_statements reset; increases across all series add up to the server's."
)


@dataclass(frozen=True)
class CounterColumn:
    """A counter column of the poll query and the metric it feeds."""

    column: str
    metric: MetricSpec


def _statement_counter(column: str, name: str, what: str) -> CounterColumn:
    return CounterColumn(column, counter(name, what + _RANKING, "user", "datname", "queryid"))


COUNTERS = (
    _statement_counter("calls", "pg_stat_statements_calls_total", "Times executed."),
    _statement_counter(
        "exec_seconds", "pg_stat_statements_seconds_total", "Time spent executing, in seconds."
    ),
    _statement_counter("rows", "pg_stat_statements_rows_total", "Rows retrieved or affected."),
    _statement_counter(
        "shared_blks_hit",
        "pg_stat_statements_shared_blocks_hit_total",
        "Shared buffer hits (blocks found in shared buffers).",
    ),
    _statement_counter(
        "shared_blks_read",
        "pg_stat_statements_shared_blocks_read_total",
        "Shared blocks read from disk or the OS cache.",
    ),
    _statement_counter(
        "shared_blks_dirtied",
        "pg_stat_statements_shared_blocks_dirtied_total",
        "Shared blocks dirtied.",
    ),
    _statement_counter(
        "shared_blks_written",
        "pg_stat_statements_shared_blocks_written_total",
        "Shared blocks written by the statement's backend.",
    ),
    _statement_counter(
        "block_read_seconds",
        "pg_stat_statements_block_read_seconds_total",
        "Time spent reading data blocks, in seconds (needs track_io_timing; PG17+: shared"
        " plus local blocks, which is what blk_read_time measured before).",
    ),
    _statement_counter(
        "block_write_seconds",
        "pg_stat_statements_block_write_seconds_total",
        "Time spent writing data blocks, in seconds (needs track_io_timing; PG17+: shared"
        " plus local blocks, which is what blk_write_time measured before).",
    ),
    _statement_counter(
        "wal_bytes", "pg_stat_statements_wal_bytes_total", "WAL generated, in bytes."
    ),
    _statement_counter(
        "plan_seconds",
        "pg_stat_statements_plan_seconds_total",
        "Time spent planning, in seconds (0 unless pg_stat_statements.track_planning is on).",
    ),
)
CALLS = 0
EXEC_SECONDS = 1
ZERO: tuple[float, ...] = (0.0,) * len(COUNTERS)

QUERY_INFO = info(
    "pg_stat_statements_query_info",
    "Query text of the top N statements (string literals shown as '***', whitespace"
    f" collapsed, cut to {QUERY_LABEL_CHARS} characters); value 1. Join on queryid, user and"
    " datname.",
    "user",
    "datname",
    "queryid",
    "query",
)
METRICS = (
    *(c.metric for c in COUNTERS),
    QUERY_INFO,
    gauge(
        "pg_stat_statements_entries",
        "Entries pg_stat_statements holds now, nested statements included; at"
        " pg_settings_pg_stat_statements_max the least used are evicted.",
    ),
    gauge("pg_settings_pg_stat_statements_max", "Server setting pg_stat_statements.max."),
    counter(
        "pg_stat_statements_deallocations_total",
        "Times pg_stat_statements evicted its least used entries to make room (PG14+).",
        min_version=140000,
    ),
    gauge(
        "pg_stat_statements_stats_reset_timestamp_seconds",
        "When all of pg_stat_statements was last reset, Unix seconds (PG14+).",
        min_version=140000,
    ),
)

Key = tuple[int, int, int]  # queryid, userid, dbid
Counters = tuple[float, ...]  # in the order of COUNTERS


@dataclass(frozen=True)
class Entry:
    """One pg_stat_statements entry as polled: its key, names and raw counters."""

    key: Key
    user: str
    datname: str
    since: datetime | None
    counters: Counters


@dataclass(frozen=True)
class Exposed:
    """The value pgmon has exposed for one statement series, and the last run it did."""

    counters: Counters
    last_run: int


@dataclass(frozen=True)
class Series:
    key: Key
    user: str
    datname: str
    counters: Counters

    @property
    def labels(self) -> tuple[str, str, str]:
        return (self.user, self.datname, str(self.key[0]))


@dataclass(frozen=True)
class Ledger:
    """What a run leaves for the next one. Replaced whole, so a failed run changes nothing."""

    run: int = 0
    stats_reset: datetime | None = None
    raw: Mapping[Key, tuple[datetime | None, Counters]] = field(default_factory=dict)
    exposed: Mapping[Key, Exposed] = field(default_factory=dict)
    other: Counters = ZERO
    texts: Mapping[Key, str] = field(default_factory=dict)


def entries_from_rows(rows: Sequence[Row]) -> list[Entry]:
    """Entries by key. A key is unique in pg_stat_statements on every version the SQL is
    chosen for; rows that still share one are merged, so a series can never be duplicated."""
    if not rows:
        return []
    # Up to pg_stat_statements.max rows every run: read the counters by position.
    fields = rows[0]._fields
    values = itemgetter(*(fields.index(c.column) for c in COUNTERS))
    entries: dict[Key, Entry] = {}
    for row in rows:
        key = (row.queryid, row.userid, row.dbid)
        counters = tuple(map(number, values(row)))
        seen = entries.get(key)
        if seen is not None:
            counters = _add(seen.counters, counters)
        entries[key] = Entry(key, label(row.rolname), label(row.datname), row.stats_since, counters)
    return list(entries.values())


def _delta(entry: Entry, before: tuple[datetime | None, Counters] | None) -> Counters:
    """What the entry did since it was last seen; all of it when the entry is new or reset."""
    if before is None:
        return entry.counters
    since, counters = before
    if since == entry.since and counters == entry.counters:
        return ZERO  # most entries sit idle between two runs
    if since != entry.since or any(c < p for c, p in zip(entry.counters, counters, strict=True)):
        return entry.counters
    return tuple(c - p for c, p in zip(entry.counters, counters, strict=True))


def _add(a: Counters, b: Counters) -> Counters:
    return tuple(x + y for x, y in zip(a, b, strict=True))


def account(
    entries: Sequence[Entry],
    previous: Ledger | None,
    top_n: int,
    stats_reset: datetime | None = None,
) -> tuple[Ledger, list[Series]]:
    """Rank the entries by recent activity and book each one's delta to exactly one series.

    Returns the ledger for the next run and the top N series, busiest first. Pure: the
    previous ledger is not changed.
    """
    before = previous or Ledger(stats_reset=stats_reset)
    run = before.run + 1
    # A reset of the whole view makes every entry new, even one that has since passed its
    # old counts again.
    raw_before = before.raw if before.stats_reset == stats_reset else {}
    deltas = [_delta(entry, raw_before.get(entry.key)) for entry in entries]
    shown_last_run = {k for k, v in before.exposed.items() if v.last_run == before.run}

    def rank(i: int) -> tuple[float, float, bool, float, Key]:
        entry, delta = entries[i], deltas[i]
        return (
            delta[EXEC_SECONDS],
            delta[CALLS],
            entry.key in shown_last_run,
            entry.counters[EXEC_SECONDS],
            entry.key,
        )

    chosen = heapq.nlargest(max(top_n, 0), range(len(entries)), key=rank)
    chosen_set = set(chosen)
    exposed = {k: v for k, v in before.exposed.items() if run - v.last_run <= RETAIN_RUNS}
    top: list[Series] = []
    for i in chosen:
        entry = entries[i]
        kept = exposed.get(entry.key)
        value = _add(kept.counters if kept else ZERO, deltas[i])
        exposed[entry.key] = Exposed(value, run)
        top.append(Series(entry.key, entry.user, entry.datname, value))
    rest = [deltas[i] for i in range(len(entries)) if i not in chosen_set]
    other = tuple(map(sum, zip(before.other, *rest, strict=True)))
    ledger = Ledger(
        run=run,
        stats_reset=stats_reset,
        raw={entry.key: (entry.since, entry.counters) for entry in entries},
        exposed=exposed,
        other=other,
        texts={k: t for k, t in before.texts.items() if k in exposed},
    )
    return ledger, top


_LABELS = ("user", "datname", "queryid")
# A series as a row of labels and counters, the shape samples_from_rows reads (its fields
# come from COUNTERS, which mypy cannot follow).
_SeriesRow = namedtuple(  # type: ignore[misc]
    "_SeriesRow", (*_LABELS, *(column.column for column in COUNTERS))
)
_COLUMNS = {column.column: column.metric.name for column in COUNTERS}


def statement_samples(
    top: Iterable[Series], other: Counters, memo: SampleMemo | None = None
) -> list[Sample]:
    """`memo`, kept between runs by the caller: a series whose labels and counters did not
    change (an idle statement still in the top N) keeps its samples (see samples_from_rows)."""
    rows = [_SeriesRow._make((*series.labels, *series.counters)) for series in top]
    rows.append(_SeriesRow._make((*OTHER_LABELS, *other)))
    return samples_from_rows(rows, _LABELS, _COLUMNS, memo=memo)


def shown_text(query: str) -> str:
    """The text to export: none in place of pg_stat_statements' placeholder for text the
    role may not see (kept as known, so it is not asked for again every run)."""
    return "" if query == HIDDEN_TEXT else query


def query_info_samples(top: Iterable[Series], texts: Mapping[Key, str]) -> Iterable[Sample]:
    for series in top:
        yield Sample(QUERY_INFO.name, (*series.labels, texts.get(series.key, "")), 1.0)


def summary_samples(rows: Iterable[Row], entries: int) -> Iterable[Sample]:
    """The summary row's samples, and how many entries the counters' read returned."""
    yield Sample("pg_stat_statements_entries", (), float(entries))
    for row in rows:
        if row.max_entries is not None:
            yield Sample("pg_settings_pg_stat_statements_max", (), number(row.max_entries))
        if row.deallocations is not None:
            yield Sample("pg_stat_statements_deallocations_total", (), number(row.deallocations))
        if row.stats_reset is not None:
            yield Sample(
                "pg_stat_statements_stats_reset_timestamp_seconds", (), epoch(row.stats_reset)
            )


def _version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".") if part.isdigit())


def preloaded(setting: str) -> bool:
    """Whether shared_preload_libraries names pg_stat_statements (also as a path or .so)."""
    for item in setting.split(","):
        name = posixpath.basename(item.strip().strip("\"'"))
        if name.removesuffix(".so") == "pg_stat_statements":
            return True
    return False


def availability_problem(row: Row, server_version: int) -> str | None:
    """Why the collector cannot run here, or None. `row` is statements_available's."""
    if row.schema is None:
        return "extension pg_stat_statements is not created in this database"
    if row.preload is not None and not preloaded(row.preload):
        return "pg_stat_statements is not in shared_preload_libraries"
    required = next(v for minimum, v in REQUIRED_EXTENSION if server_version >= minimum)
    if _version(row.extversion) < _version(required):
        return (
            f"extension pg_stat_statements {row.extversion} is older than {required}, which "
            "this server version needs: run ALTER EXTENSION pg_stat_statements UPDATE"
        )
    if not row.can_execute:
        return "no EXECUTE privilege on pg_stat_statements()"
    if not row.read_all_stats:
        return "needs pg_read_all_stats (e.g. via pg_monitor) to see every role's statements"
    return None


def _fetch(
    ctx: RunContext, name: str, schema: str, params: Sequence[Any] | None = None
) -> list[Row]:
    statement = sql.SQL(query_for(name, ctx.server_version)).format(schema=sql.Identifier(schema))
    return ctx.fetch_sql(statement, params)


def _schema(ctx: RunContext) -> str:
    row = ctx.fetch("statements_available")[0]
    problem = availability_problem(row, ctx.server_version)
    if problem is not None:
        raise Unavailable(problem)
    return str(row.schema)


def _poll(ctx: RunContext, schema: str) -> tuple[list[Row], list[Row]]:
    """The summary, then the counters. A role that cannot see shared_preload_libraries
    learns that the library is missing only from the error."""
    try:
        with ctx.may_fail():
            summary = _fetch(ctx, "statements_info", schema)
            rows = _fetch(ctx, "statements", schema)
    except psycopg.errors.ObjectNotInPrerequisiteState as exc:
        raise Unavailable("pg_stat_statements is not in shared_preload_libraries") from exc
    except psycopg.errors.InsufficientPrivilege as exc:
        raise Unavailable(f"not allowed to read pg_stat_statements: {exc}") from exc
    return summary, rows


def _texts(
    ctx: RunContext, schema: str, top: Sequence[Series], cached: Mapping[Key, str]
) -> dict[Key, str]:
    """Cached texts plus those of new top-N entries; reading text makes the server read
    its whole query-text file, so it is done only when a statement first enters the top N."""
    texts = dict(cached)
    missing = [s.key for s in top if s.key not in cached]
    if missing:
        params = [[key[i] for key in missing] for i in range(3)]
        for row in _fetch(ctx, "statements_text", schema, params):
            if row.query is not None:  # NULL when the text file could not be read; retry
                texts[(row.queryid, row.userid, row.dbid)] = shown_text(row.query)
    return texts


def collect(ctx: RunContext) -> list[Sample]:
    schema = _schema(ctx)
    summary, rows = _poll(ctx, schema)
    entries = len(rows)
    rows = [row for row in rows if row.toplevel]  # see queries/statements.pg14.sql
    previous = ctx.state.get(STATE_KEY)
    top_n = DEFAULT_TOP_N if ctx.top_n is None else ctx.top_n
    stats_reset = summary[0].stats_reset if summary else None
    ledger, top = account(
        entries_from_rows(rows),
        previous if isinstance(previous, Ledger) else None,
        top_n,
        stats_reset,
    )
    if ctx.query_text:
        ledger = replace(ledger, texts=_texts(ctx, schema, top, ledger.texts))
    else:
        ledger = replace(ledger, texts={})
    ctx.state[STATE_KEY] = ledger
    samples = statement_samples(top, ledger.other, ctx.state.setdefault("samples", {}))
    if ctx.query_text:
        samples.extend(query_info_samples(top, ledger.texts))
    samples.extend(summary_samples(summary, entries))
    return samples


SPEC = CollectorSpec(
    name="statements",
    description="pg_stat_statements: calls, time, rows, blocks, WAL of the top N statements "
    "by recent activity, plus one remainder series.",
    metrics=METRICS,
    queries=("statements_available", "statements_info", "statements", "statements_text"),
    collect=collect,
    interval=60.0,
    timeout=30.0,
    per_database=False,
    top_n=DEFAULT_TOP_N,
)
