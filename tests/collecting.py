"""Run one collector against a real server through the same code path the daemon uses.

Unit tests, which make samples without a server, read them with `collected` and hand a
collector canned rows with `FakeContext`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from prometheus_client import CollectorRegistry
from prometheus_client.core import Metric

from monitor.collectors.base import CollectorSpec, RunContext
from monitor.db import Endpoint, SessionLimits
from monitor.metrics import Sample, build_families

TARGET = "test"
WAL_POSITION = "SELECT pg_current_wal_insert_lsn()::text"
T = TypeVar("T")
# The daemon's defaults, so tests see what production sessions see.
LIMITS = SessionLimits(
    statement_timeout=5.0, lock_timeout=0.1, connect_timeout=5.0, backoff_max=1.0
)


class _Families:
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterable[Metric]:
        return self._families


class Collected:
    """The families one run produced, readable the way Prometheus would read them."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_Families(families))  # type: ignore[arg-type]

    def value(self, metric: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(metric, {"target": TARGET, **labels})

    def samples(self, metric: str) -> list[tuple[dict[str, str], float]]:
        return [
            (dict(s.labels), s.value)
            for family in self.families
            for s in family.samples
            if s.name == metric
        ]

    def total(self, metric: str, **labels: str) -> float:
        return sum(
            v for lbl, v in self.samples(metric) if all(lbl.get(k) == x for k, x in labels.items())
        )


def value(got: Collected, metric: str, **labels: str) -> float:
    """`got.value(...)` that fails the test, instead of returning None, when the series is
    missing."""
    found = got.value(metric, **labels)
    assert found is not None, f"no sample {metric}{labels or ''}"
    return found


def collected(spec: CollectorSpec, samples: Iterable[Sample]) -> Collected:
    """The samples of a run of `spec`, read the way a scrape reads them."""
    return Collected(build_families(spec.by_name, TARGET, samples))


class FakeContext:
    """Stands in for RunContext in unit tests: canned rows per query name, and the names of
    the queries the collector asked for, in order."""

    def __init__(self, rows: dict[str, list[Any]], server_version: int = 0) -> None:
        self.rows = rows
        self.server_version = server_version
        self.asked: list[str] = []
        self.kept: dict[str, list[Any]] = {}
        self.state: dict[str, Any] = {}

    def fetch(
        self, query: str, params: Any = None, *, share_values: bool = False, like: Any = ()
    ) -> list[Any]:
        self.asked.append(query)
        return self.rows[query]

    def keep(self, name: str, rows: list[Any]) -> None:
        self.kept.setdefault(name, []).extend(rows)


def collect(
    spec: CollectorSpec,
    dsn: str,
    *,
    top_n: int | None = None,
    state: dict[str, Any] | None = None,
    timeout: float = 30.0,
    query_text: bool = True,
) -> Collected:
    """One run of `spec` in a pgmon session (read-only, application_name, timeouts)."""
    endpoint = Endpoint(dsn, LIMITS)
    try:
        with endpoint.session(timeout) as conn:
            ctx = RunContext(
                conn=conn,
                server_version=endpoint.server_version,
                database=conn.info.dbname,
                top_n=top_n if top_n is not None else spec.top_n,
                state=state if state is not None else {},
                deadline=time.monotonic() + timeout,
                query_text=query_text,
            )
            samples = list(spec.collect(ctx))
    finally:
        endpoint.close()
    return collected(spec, samples)


def without_wal(scalar: Callable[[str], Any], run: Callable[[str], T]) -> T:
    """`run(position)`, given the WAL insert position it starts from, made again until no
    WAL was written while it ran (the server's own background work writes some now and
    then). Fails when each of 20 tries saw WAL written."""
    for _ in range(20):
        position = scalar(WAL_POSITION)
        result = run(position)
        if scalar(WAL_POSITION) == position:
            return result
        time.sleep(0.5)
    raise AssertionError("WAL was written during every run: no idle run to look at")
