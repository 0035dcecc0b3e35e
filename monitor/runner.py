"""One run of one collector on one target, and what it leaves behind: a snapshot."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
import psycopg.errors

from monitor import memory, selfmetrics
from monitor.collectors.base import DeadlineExceeded, RunContext, Unavailable
from monitor.collectors.remainder import KEPT_NAMED, cut
from monitor.db import BudgetExhausted, Endpoint, EndpointBusy, TargetDown, WaitingToRetry
from monitor.logs import get_logger
from monitor.metrics import Sample
from monitor.snapshot import Snapshot, SnapshotStore
from monitor.targets import Plan, Target

T = TypeVar("T")

# Errors that say "this server cannot serve this collector", not "this run went wrong".
MISSING_PREREQUISITE = (
    psycopg.errors.InsufficientPrivilege,
    psycopg.errors.UndefinedTable,
    psycopg.errors.UndefinedFunction,
    psycopg.errors.UndefinedObject,
    psycopg.errors.ObjectNotInPrerequisiteState,
    psycopg.errors.FeatureNotSupported,
)

DISCOVER_DATABASES = (
    "SELECT datname FROM pg_database WHERE datallowconn AND NOT datistemplate ORDER BY datname"
)


class PartlyFailed(Exception):
    """Some databases of a per-database collector failed; the rest were collected."""


@dataclass(frozen=True)
class Outcome:
    ok: bool
    available: bool = True
    target_down: bool = False
    error: str = ""


class TargetStatus:
    """pg_up and the server version of a target, published as their own snapshot."""

    def __init__(self, target: Target, store: SnapshotStore) -> None:
        self._target = target
        self._store = store
        self._lock = threading.Lock()
        self._up: bool | None = None
        self._reasons: set[str] = set()  # why the target is down, since it went down
        self._version = ""
        self._log = get_logger(target=target.name)
        self.on_recovery: list[Callable[[], None]] = []
        self.publish()

    @property
    def up(self) -> bool:
        return bool(self._up)

    def record(self, up: bool, error: str = "") -> None:
        """`error`: why the target is down; "" when no new attempt was made."""
        version = self._target.main.server_version_text
        with self._lock:
            changed = up != self._up or (up and version != self._version)
            recovered = up and self._up is False
            if up != self._up:
                if up:
                    self._log.info("target_up", server_version=version)
                else:
                    self._log.warning("target_down", error=error)
                self._reasons = {error}
            elif not up and error and error not in self._reasons:
                # The outage goes on for another reason (the session was ended by an
                # administrator; now the password is refused): say so, once per reason.
                self._reasons.add(error)
                self._log.warning("target_still_down", error=error)
            self._up = up
            if up:
                self._version = version
        if changed:
            self.publish()
        if recovered:
            for callback in self.on_recovery:
                callback()

    def publish(self) -> None:
        with self._lock:
            samples = list(selfmetrics.target_samples(bool(self._up), self._version))
        self._store.put(
            Snapshot(self._target.name, "_target", selfmetrics.TARGET_SPECS, samples, time.time()),
            owner=self._target,
        )


class CollectorJob:
    """Runs one plan on one target; the scheduler calls `run` on the plan's interval."""

    def __init__(self, target: Target, plan: Plan, store: SnapshotStore, status: TargetStatus):
        self.target = target
        self.plan = plan
        self._store = store
        self.status = status
        self._state: dict[str, Any] = {}
        self._specs = {**plan.spec.by_name, **selfmetrics.COLLECTOR_SPECS}
        self._errors = 0
        self._last_success = 0.0
        self._last: Outcome | None = None
        self._failed_before: set[str] = set()
        self._published: Snapshot | None = None
        self.completed = threading.Event()
        self._log = get_logger(target=target.name, collector=plan.spec.name)

    @property
    def name(self) -> str:
        return f"{self.target.name}/{self.plan.spec.name}"

    @property
    def succeeded(self) -> bool:
        """Whether the last run succeeded (False before the first)."""
        return self._last is not None and self._last.ok

    def run(self) -> None:
        started = time.monotonic()
        samples: list[Sample] = []
        kept: dict[str, list[Any]] = {}
        try:
            self._collect(started + self.plan.timeout, samples, kept)
            outcome = Outcome(ok=True)
        except PartlyFailed as exc:
            outcome = Outcome(ok=False, error=str(exc))  # the other databases' samples stay
        except Unavailable as exc:
            samples, kept, outcome = [], {}, Outcome(ok=False, available=False, error=str(exc))
        except MISSING_PREREQUISITE as exc:
            samples, kept, outcome = (
                [],
                {},
                Outcome(ok=False, available=False, error=_describe(exc)),
            )
        except TargetDown as exc:
            samples, kept, outcome = [], {}, Outcome(ok=False, target_down=True, error=str(exc))
        except (psycopg.Error, EndpointBusy, BudgetExhausted, DeadlineExceeded) as exc:
            samples, kept, outcome = [], {}, Outcome(ok=False, error=_describe(exc))
        except Exception as exc:  # a bug in a collector must not stop the others
            self._log.exception("collector_crashed")
            samples, kept, outcome = [], {}, Outcome(ok=False, error=_describe(exc))
        duration = time.monotonic() - started
        self._publish(samples, kept, outcome, duration)
        self._report(outcome)
        self.completed.set()

    def _collect(self, deadline: float, into: list[Sample], kept: dict[str, list[Any]]) -> None:
        spec = self.plan.spec
        if not spec.per_database:
            into.extend(self._run_in(self.target.main, self.target.dbname, deadline, kept))
            return
        failed: dict[str, str] = {}
        databases = self._discover(deadline)
        # A database that failed the last run (a statement waiting for a lock, or outliving
        # the run's time) and one whose session another collector's run holds are visited
        # after the others, so that waiting there cannot use up their time.
        suspect = [datname for datname in databases if datname in self._failed_before]
        busy: list[str] = []
        for datname in databases:
            if datname not in self._failed_before:
                self._visit(datname, deadline, into, kept, failed, busy)
        for datname in busy + suspect:
            self._visit(datname, deadline, into, kept, failed)
        self._failed_before = set(failed)
        if spec.remainder is not None and self.plan.top_n is not None:
            kept_samples, still_named = cut(into, self.plan.top_n, spec.remainder)
            if kept_samples is not into:
                into[:] = kept_samples
            for state in self._state.values():
                state[KEPT_NAMED] = still_named
        if failed:
            raise PartlyFailed("; ".join(f"{name}: {error}" for name, error in failed.items()))

    def _visit(
        self,
        datname: str,
        deadline: float,
        into: list[Sample],
        kept: dict[str, list[Any]],
        failed: dict[str, str],
        busy: list[str] | None = None,
    ) -> None:
        """Collect one database of a per-database collector. With `busy`, a session held by
        another run is not waited for: the database goes to `busy`, to be visited later."""
        if time.monotonic() > deadline:
            failed[datname] = "run timeout reached before this database"
            return
        try:
            endpoint = self.target.endpoint(datname)
            wait = None if busy is None else 0.0
            into.extend(self._run_in(endpoint, datname, deadline, kept, wait))
        except EndpointBusy as exc:
            if busy is None:
                failed[datname] = _describe(exc)
            else:
                busy.append(datname)
        except (TargetDown, BudgetExhausted, DeadlineExceeded, psycopg.OperationalError) as exc:
            # One database refusing connections, timing out or being dropped under us is
            # that database's problem: the others are still reported.
            failed[datname] = _describe(exc)

    def _discover(self, deadline: float) -> list[str]:
        names = self._in_session(
            self.target.main,
            deadline,
            lambda conn: [r[0] for r in conn.execute(DISCOVER_DATABASES)],
        )
        databases = [str(name) for name in names if self.target.wants(str(name))]
        self.target.forget_databases(set(databases))
        for gone in set(self._state) - set(databases):
            del self._state[gone]  # a dropped database's state would be kept forever
        return databases

    def _run_in(
        self,
        endpoint: Endpoint,
        datname: str,
        deadline: float,
        kept: dict[str, list[Any]],
        wait: float | None = None,
    ) -> list[Sample]:
        """The collector's function in one database; its kept rows join `kept` on success."""

        def work(conn: psycopg.Connection[Any]) -> tuple[list[Sample], dict[str, list[Any]]]:
            ctx = RunContext(
                conn=conn,
                server_version=endpoint.server_version,
                database=datname,
                top_n=self.plan.top_n,
                state=self._state.setdefault(datname, {}),
                deadline=deadline,
                query_text=self.plan.query_text,
                interval=self.plan.interval,
            )
            return list(self.plan.spec.collect(ctx)), ctx.kept

        samples, rows = self._in_session(endpoint, deadline, work, wait)
        for name, found in rows.items():
            kept.setdefault(name, []).extend(found)
        return samples

    def _in_session(
        self,
        endpoint: Endpoint,
        deadline: float,
        work: Callable[[psycopg.Connection[Any]], T],
        wait: float | None = None,
    ) -> T:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise DeadlineExceeded("run timeout reached")
        is_main = endpoint is self.target.main
        try:
            with endpoint.session(remaining, self.plan.spec.statement_timeout, wait) as conn:
                if is_main:
                    self.status.record(True)
                return work(conn)
        except TargetDown as exc:
            if is_main:
                self.status.record(False, "" if isinstance(exc, WaitingToRetry) else str(exc))
            raise
        except psycopg.OperationalError as exc:
            if is_main and not endpoint.connected:
                self.status.record(False, _describe(exc))
            raise

    def _publish(
        self, samples: list[Sample], kept: dict[str, list[Any]], outcome: Outcome, duration: float
    ) -> None:
        if outcome.ok:
            self._last_success = time.time()
        elif outcome.available:
            self._errors += 1
        own = selfmetrics.collector_samples(
            collector=self.plan.spec.name,
            duration=duration,
            last_success=self._last_success,
            errors=self._errors,
            ok=outcome.ok,
            available=outcome.available,
            series=len(samples),
            interval=self.plan.interval,
        )
        samples.extend(own)
        rows = {name: tuple(found) for name, found in kept.items()}
        snapshot = Snapshot(
            self.target.name,
            self.plan.spec.name,
            self._specs,
            samples,
            time.time(),
            rows,
            previous=self._published,
        )
        self._published = snapshot
        self._store.put(snapshot, owner=self.target)
        memory.after(len(samples) + sum(len(found) for found in rows.values()))

    def _report(self, outcome: Outcome) -> None:
        """Log changes of state only: a collector failing every 15 s must not flood the log."""
        previous, self._last = self._last, outcome
        if previous is not None and (previous.ok, previous.available, previous.error) == (
            outcome.ok,
            outcome.available,
            outcome.error,
        ):
            return
        if outcome.ok:
            if previous is not None and not previous.ok:
                self._log.info("collector_recovered")
        elif not outcome.available:
            self._log.warning("collector_unavailable", reason=outcome.error)
        elif not outcome.target_down:
            self._log.warning("collector_failed", error=outcome.error)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    first = text.splitlines()[0] if text else ""
    return f"{type(exc).__name__}: {first}" if first else type(exc).__name__
