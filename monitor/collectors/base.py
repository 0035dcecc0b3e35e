"""What a collector is: a name, its metrics, its queries, its defaults, and a function."""

from __future__ import annotations

import operator
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import psycopg
from psycopg import sql

from monitor.collectors.remainder import Remainder
from monitor.metrics import MetricSpec, Sample
from monitor.sql import query_for

Row = Any  # a namedtuple made by psycopg's namedtuple_row
# A row's samples from the last run, None where a value was NULL (see samples_from_rows).
SampleMemo = dict[Row, tuple[Sample | None, ...]]


# What only changes when something is written (sizes, rankings) is made again when due only
# if WAL was written since (tables; database sizes also look at their written rows), and
# otherwise after this long: some changes write neither (unlogged tables).
UNCHANGED_MAX_AGE_SECONDS = 900.0

# Rows per round trip when a large row set is read through a server-side cursor.
BATCH_ROWS = 5000


@dataclass(frozen=True)
class Clock:
    """The moment of a run, for what a collector redoes every so often.

    Runs drift by their jitter and by the collectors that ran before them in their slot.
    Something redone every `max_age` therefore counts as due up to `slack` (half the
    collector's interval) early: otherwise, at an interval equal to `max_age`, it would
    wait a whole interval more every other run.
    """

    now: float
    slack: float = 0.0

    def reached(self, at: float, max_age: float) -> bool:
        """Whether what was made at `at` is `max_age` old by now."""
        return self.now - at >= max_age - self.slack


class Unavailable(Exception):
    """The collector cannot work on this server (missing extension, privilege, feature)."""


class DeadlineExceeded(Exception):
    pass


@dataclass
class RunContext:
    """What one run of a collector may use; `state` survives from one run to the next."""

    conn: psycopg.Connection[Any]
    server_version: int
    database: str
    top_n: int | None
    state: dict[str, Any]
    deadline: float
    kept: dict[str, list[Row]] = field(default_factory=dict)
    query_text: bool = True  # statements: whether query text may be read and exported
    interval: float = 0.0  # seconds between the collector's runs

    def clock(self) -> Clock:
        return Clock(time.monotonic(), self.interval / 2)

    def keep(self, name: str, rows: Sequence[Row]) -> None:
        """Keep rows for the findings heuristics (see monitor.findings); a per-database
        collector's rows from every database are put together, so rows need a datname."""
        self.kept.setdefault(name, []).extend(rows)

    def fetch(
        self,
        query: str,
        params: Sequence[Any] | None = None,
        *,
        share_values: bool = False,
        previous: Sequence[Row] = (),
        key: str = "",
    ) -> list[Row]:
        """The rows of a query of queries/; `share_values` for large row sets kept between
        runs, with the last run's rows as `previous`, see `shared_values`."""
        return self.fetch_sql(
            sql.SQL(query_for(query, self.server_version)),
            params,
            share_values=share_values,
            previous=previous,
            key=key,
        )

    def fetch_sql(
        self,
        statement: sql.SQL | sql.Composed,
        params: Sequence[Any] | None = None,
        *,
        share_values: bool = False,
        previous: Sequence[Row] = (),
        key: str = "",
    ) -> list[Row]:
        if time.monotonic() > self.deadline:
            raise DeadlineExceeded("run timeout reached")
        if share_values:
            # A server-side cursor read in batches: the client never holds the whole result
            # twice (libpq's copy and the rows), which at 80,000 rows was some 50 MiB more.
            # It lives in a transaction (the session is in autocommit).
            with self._in_transaction(), self.conn.cursor(name="pgmon_rows") as named:
                named.itersize = BATCH_ROWS
                named.execute(statement, params)
                return shared_values(named, previous, key)
        with self.conn.cursor() as cur:
            cur.execute(statement, params)
            return cur.fetchall()

    def _in_transaction(self) -> AbstractContextManager[object]:
        return self.conn.transaction() if self._idle() else nullcontext()

    def may_fail(self) -> AbstractContextManager[object]:
        """Around statements whose error the run handles: a savepoint inside a transaction,
        which the error would abort otherwise; nothing in autocommit."""
        return nullcontext() if self._idle() else self.conn.transaction()

    def _idle(self) -> bool:
        return self.conn.info.transaction_status == psycopg.pq.TransactionStatus.IDLE

    def scalar(self, statement: str, params: Sequence[Any] | None = None) -> Any:
        rows = self.fetch_sql(sql.SQL(statement), params)
        return rows[0][0] if rows else None


def _shareable(value: object) -> bool:
    if isinstance(value, (str, float)) or type(value) is int:
        return True
    return isinstance(value, tuple) and all(type(v) is int or isinstance(v, str) for v in value)


def shared_values(rows: Iterable[Row], previous: Iterable[Row] = (), key: str = "") -> list[Row]:
    """Rows whose equal values are one object, arrays as tuples, read one row at a time.

    Kept rows of a big catalogue are mostly repeats (schema and table names, access methods,
    arrays of column numbers, sizes): at 80,000 indexes sharing them halves what the index
    catalogue holds between runs. Values are matched by type as well, so that 0, 0.0 and
    False stay apart.

    With the last run's rows as `previous` and a `key` column naming a row, a row equal to
    the previous one of the same key is that object, and the values of a changed row are
    matched against the previous rows' too. Between two runs few rows of a catalogue
    change: the new rows then take almost no memory beside the old ones while both are
    held, and the interpreter, which rarely hands memory back once its small-object arenas
    are fragmented, keeps little more than one copy.
    """
    before = {getattr(row, key): row for row in previous} if key else {}
    seen: dict[tuple[type, object], object] | None = None
    out: list[Row] = []
    for row in rows:
        values = [tuple(value) if isinstance(value, list) else value for value in row]
        old = before.get(getattr(row, key)) if key else None
        if old is not None and old == tuple(values):
            out.append(old)
            continue
        if seen is None:
            seen = _values_of(previous)
        for index, value in enumerate(values):
            if _shareable(value):
                values[index] = seen.setdefault((type(value), value), value)
        out.append(row._make(values))
    return out


def _values_of(rows: Iterable[Row]) -> dict[tuple[type, object], object]:
    seen: dict[tuple[type, object], object] = {}
    for row in rows:
        for value in row:
            if _shareable(value):
                seen.setdefault((type(value), value), value)
    return seen


CollectFunction = Callable[[RunContext], Iterable[Sample]]


@dataclass(frozen=True)
class CollectorSpec:
    name: str
    description: str
    metrics: tuple[MetricSpec, ...]
    queries: tuple[str, ...]
    collect: CollectFunction
    interval: float
    timeout: float
    per_database: bool = False
    top_n: int | None = None
    # Collectors that read a whole catalogue in one statement need longer than the
    # configured statement_timeout on big databases; the run's timeout still caps it.
    statement_timeout: float | None = None
    # Per-database top-N collectors: how `top_n` is applied over all the target's databases.
    remainder: Remainder | None = None
    by_name: dict[str, MetricSpec] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {m.name: m for m in self.metrics})
        if len(self.by_name) != len(self.metrics):
            raise ValueError(f"collector {self.name}: a metric is declared twice")


def label(value: object) -> str:
    """Label values are strings; SQL NULL becomes the empty string, as in postgres_exporter."""
    return "" if value is None else str(value)


def epoch(value: object) -> float:
    """A timestamptz (or None) as Unix seconds; 0 means never."""
    if value is None:
        return 0.0
    return float(value.timestamp())  # type: ignore[attr-defined]


def number(value: object) -> float:
    return 0.0 if value is None else float(value)  # type: ignore[arg-type]


def samples_from_rows(
    rows: Iterable[Row],
    labels: Sequence[str],
    values: dict[str, str],
    convert: Callable[[object], float] = number,
    memo: SampleMemo | None = None,
) -> list[Sample]:
    """The common shape: label columns plus value columns, one metric per value column,
    metric by metric. NULL values give no sample.

    The hottest loop of a collection: tens of thousands of samples per run on big
    catalogues, so the columns are read with one getter per row and samples are made
    without Sample's own constructor (a Python-level function).

    `memo`, kept by the caller between runs of one call site: the samples of the last run's
    rows. A row equal to one of them (most rows of a catalogue between two runs: an idle
    table's counters do not move) gets the same samples, which are not made again, and
    which a snapshot compares by identity when it decides whether a family changed. Rows
    must then be hashable (no arrays). Afterwards it holds this run's rows only."""
    label_getter = _getter(labels)
    value_getter = _getter(tuple(values))
    metrics = tuple(values.values())
    make = tuple.__new__
    plain = convert is number
    by_row: list[tuple[Sample | None, ...]] = []
    now: SampleMemo = {}
    for row in rows:
        made = memo.get(row) if memo is not None else None
        if made is None:
            label_values = tuple(["" if v is None else str(v) for v in label_getter(row)])
            made = tuple(
                [
                    None
                    if raw is None
                    else make(Sample, (metric, label_values, float(raw) if plain else convert(raw)))
                    for metric, raw in zip(metrics, value_getter(row), strict=True)
                ]
            )
        if memo is not None:
            now[row] = made
        by_row.append(made)
    if memo is not None:
        memo.clear()
        memo.update(now)
    # Metric by metric, so that grouping them into families takes a slice per metric.
    out: list[Sample] = []
    for column in zip(*by_row, strict=True):
        out.extend(filter(None, column))
    return out


def _getter(columns: Sequence[str]) -> Callable[[Row], tuple[Any, ...]]:
    """A function giving a row's `columns` as a tuple, whatever their number."""
    if not columns:
        return lambda row: ()
    if len(columns) == 1:
        (column,) = columns
        return lambda row: (getattr(row, column),)
    return operator.attrgetter(*columns)


def int_array(values: Iterable[float | None]) -> str:
    """An array literal of whole numbers (NULL for None), for a `%s::oid[]` or `%s::bigint[]`
    parameter: joined here, hundreds of elements cost a fraction of what psycopg's element
    by element array dumper spends on them."""
    return "{" + ",".join(["NULL" if v is None else str(int(v)) for v in values]) + "}"


def fetch_top_relations(ctx: RunContext, query: str, exact_sizes: bool = True) -> list[Row]:
    """Run a top-N relations query (parameters top_n, exact_sizes); see `fetch_sized`."""
    return fetch_sized(ctx, query, exact_sizes, lambda exact: (ctx.top_n, exact))


def fetch_sized(
    ctx: RunContext,
    query: str,
    exact_sizes: bool,
    params: Callable[[bool], Sequence[Any]],
) -> list[Row]:
    """Run a query that measures relation sizes when `params(True)` asks it to, without
    waiting on locks.

    The query measures sizes only of relations without an ACCESS EXCLUSIVE lock in
    pg_locks, but a lock requested just after pg_locks was read still makes the size
    functions wait until lock_timeout cancels the statement. The run then asks again
    without sizes (`params(False)`). Whether sizes were measured is left in
    `ctx.state["sizes_measured"]`.
    """
    ctx.state["sizes_measured"] = False
    if not exact_sizes:
        return ctx.fetch(query, params(False))
    try:
        with ctx.may_fail():
            rows = ctx.fetch(query, params(True))
    except psycopg.errors.LockNotAvailable:
        return ctx.fetch(query, params(False))
    ctx.state["sizes_measured"] = True
    return rows
