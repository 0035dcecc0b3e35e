"""Relation sizes measured again only after something was written.

pg_table_size, pg_indexes_size and pg_total_relation_size open every relation they
measure and stat its files: for a few hundred relations, most of a query's time. Sizes
change only when something is written, and a primary logs what is written (unlogged tables
aside). A measurement that is due is therefore made again only if the WAL insert position
(queries/sizes_wal_position.sql) moved since the last one, and otherwise after
UNCHANGED_MAX_AGE_SECONDS. On a standby, whose position reads NULL, it is made when due.
The last measured sizes are reported in between. The tables collector dates its rankings,
and the database collector its database sizes, the same way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import cache
from operator import attrgetter
from typing import Any

from monitor.collectors.base import UNCHANGED_MAX_AGE_SECONDS, Clock, Row, RunContext

Position = Callable[[], "str | None"]


def wal_position(ctx: RunContext) -> Position:
    """The WAL insert position, read once per run, when first asked for."""
    return cache(lambda: ctx.fetch("sizes_wal_position")[0].lsn)


def due(at: float, wal_lsn: str | None, max_age: float, clock: Clock, position: Position) -> bool:
    """Whether what was made at `at`, with WAL at `wal_lsn`, is to be made again."""
    if clock.reached(at, UNCHANGED_MAX_AGE_SECONDS):
        return True
    if not clock.reached(at, max_age):
        return False
    current = position()
    return current is None or current != wal_lsn


def dating(made: bool, position: Position) -> str | None:
    """The WAL position to date what is about to be `made` with (None if nothing is). Read
    before making it, so that WAL written meanwhile makes the next one due."""
    return position() if made else None


def _tuple_getter(names: tuple[str, ...]) -> Callable[[Row], tuple[Any, ...]]:
    get = attrgetter(*names)
    return get if len(names) > 1 else lambda row: (get(row),)


@dataclass
class MeasuredSizes:
    """The sizes of the last measurement by relation (the `key` columns of a row), and
    when it was made. A remainder row (empty schemaname) is not kept: its sizes are
    estimates."""

    key: tuple[str, ...]
    columns: tuple[str, ...]
    max_age: float
    at: float = float("-inf")
    sizes: dict[tuple[Any, ...], tuple[Any, ...]] = field(default_factory=dict)
    wal_lsn: str | None = None

    def __post_init__(self) -> None:
        # attrgetter: these run for every named relation on every run
        self._key = _tuple_getter(self.key)
        self._sizes = _tuple_getter(self.columns)

    def due(self, clock: Clock, position: Position) -> bool:
        return due(self.at, self.wal_lsn, self.max_age, clock, position)

    def remember(self, rows: Iterable[Row], at: float, wal_lsn: str | None) -> None:
        self.at, self.wal_lsn = at, wal_lsn
        self.sizes = {self._key(r): self._sizes(r) for r in rows if r.schemaname}

    def update(self, ctx: RunContext, rows: list[Row], at: float, wal_lsn: str | None) -> list[Row]:
        """The rows of a fetch that measured sizes if it was due (see `fetch_sized`): when it
        did, their sizes are remembered with the WAL position read before the fetch;
        otherwise they get the last measured sizes."""
        if ctx.state["sizes_measured"]:
            self.remember(rows, at, wal_lsn)
            return rows
        return self.apply(rows)

    def of(self, row: Row) -> tuple[Any, ...]:
        """The relation's last measured sizes; one new to the named set keeps the row's
        estimate until the next measurement."""
        return self.sizes.get(self._key(row)) or self._sizes(row)

    def apply(self, rows: list[Row]) -> list[Row]:
        """Rows with their last measured sizes (see `of`)."""
        out = []
        known, key_of, sizes_of = self.sizes, self._key, self._sizes
        for row in rows:
            current = sizes_of(row)
            last = known.get(key_of(row))
            if last is not None and last != current:
                row = row._replace(**dict(zip(self.columns, last, strict=True)))
            out.append(row)
        return out
