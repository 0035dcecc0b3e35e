"""The long-running daemon: a scheduler filling snapshots, an HTTP server reading them."""

from __future__ import annotations

import contextlib
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor import fleet, memory, selfmetrics
from monitor.db import ConnectionBudget
from monitor.findings.board import FindingsBoard
from monitor.findings.engine import build_policy
from monitor.http import HttpServer
from monitor.logs import get_logger
from monitor.runner import CollectorJob, TargetStatus
from monitor.settings import ConfigError, Settings, split_listen
from monitor.slots import Slot, slots_of
from monitor.snapshot import Snapshot, SnapshotStore
from monitor.targets import Target, build_targets, shard
from monitor.webconfig import WebConfig, load_web_config

log = get_logger()

# Settings read once at start-up; a reload that changes them says a restart is needed.
RESTART_ONLY = (
    "listen",
    "openmetrics",
    "log_level",
    "log_format",
    "findings.interval",
    "findings.max_series_per_check",
)


SWITCH_INTERVAL_SECONDS = 0.001
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def _carried_by_the_wakeup_socket(signum: int, frame: FrameType | None) -> None:
    """The Python-level handler: the signal's number is read from the wakeup socket."""


def _setting(settings: Settings, dotted: str) -> object:
    found: object = settings
    for part in dotted.split("."):
        found = getattr(found, part)
    return found


def make_jobs(targets: list[Target], store: SnapshotStore) -> list[CollectorJob]:
    jobs: list[CollectorJob] = []
    for target in targets:
        status = TargetStatus(target, store)
        jobs.extend(CollectorJob(target, plan, store, status) for plan in target.plans)
    return jobs


def run_all_once(jobs: list[CollectorJob]) -> None:
    """Every job once, the jobs of one target one after another (they share its connection)."""
    by_target: dict[str, list[CollectorJob]] = {}
    for job in jobs:
        by_target.setdefault(job.target.name, []).append(job)
    threads = [
        threading.Thread(target=lambda js=js: [j.run() for j in js], name=name)
        for name, js in by_target.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


class Daemon:
    def __init__(
        self,
        settings: Settings,
        reload: Callable[[], Settings] | None = None,
        web: WebConfig | None = None,
    ) -> None:
        self.settings = settings
        self._load = reload
        self.store = SnapshotStore()
        self.budget = ConnectionBudget(settings.max_connections)
        self.targets = shard(settings, build_targets(settings, self.budget))
        for target in self.targets:
            self.store.adopt(target.name, target)
        self._jobs_lock = threading.Lock()
        self.jobs = make_jobs(self.targets, self.store)
        self.findings = FindingsBoard(
            self.targets,
            self.store,
            build_policy(settings, self.targets),
            settings.findings.max_series_per_check,
        )
        host, port = split_listen(settings.listen)
        self.http = HttpServer(
            host,
            port,
            self.store,
            self.readiness,
            self.findings.json,
            settings.openmetrics,
            web if web is not None else load_web_config(settings.web_config_file),
        )
        workers = min(32, max(4, 2 * len(self.targets)))
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"max_instances": 1, "coalesce": True},
            timezone=UTC,
        )
        self.budget.on_change.append(self._publish_daemon_metrics)
        self._publish_daemon_metrics()

    def readiness(self) -> tuple[bool, str]:
        with self._jobs_lock:
            jobs = list(self.jobs)
        pending = [job.name for job in jobs if not job.completed.is_set()]
        if pending:
            return False, f"waiting for a first run of {len(pending)} collectors: " + ", ".join(
                pending[:10]
            )
        return True, "ready"

    def _publish_daemon_metrics(self) -> None:
        samples = selfmetrics.daemon_samples(
            open_connections=self.budget.open,
            max_connections=self.budget.limit,
            targets=len(self.targets),
            shard=(self.settings.shard_index, self.settings.shard_count),
        )
        self.store.put(
            Snapshot("", "_daemon", selfmetrics.DAEMON_SPECS, list(samples), time.time())
        )

    def _schedule(self, jobs: list[CollectorJob]) -> None:
        """First runs soon (readiness waits for them), a little apart so that start-up is not
        one burst of queries; later runs at each slot's own phase within its interval, so
        that targets with equal intervals do not fire together forever; after an outage, at
        once (see _run_soon_after_recovery)."""
        start = datetime.now(UTC)
        slots = slots_of(jobs)
        for index, slot in enumerate(slots):
            interval = slot.interval
            self.scheduler.add_job(
                slot.run,
                fleet.PhasedTrigger(
                    interval, fleet.phase(slot.name, interval), jitter=min(1.0, interval / 10)
                ),
                id=slot.name,
                name=slot.name,
                next_run_time=start + timedelta(milliseconds=50 * index),
                misfire_grace_time=max(1, int(interval)),
            )
        self._run_soon_after_recovery(slots)

    def _run_soon_after_recovery(self, slots: list[Slot]) -> None:
        """A target back from an outage gets the slots with a failed collector run now, not
        at their next turn: an hourly collector would otherwise stay failed (and its data
        stale) for up to an hour after the server came back."""
        by_target: dict[str, list[Slot]] = {}
        for slot in slots:
            by_target.setdefault(slot.jobs[0].target.name, []).append(slot)
        for mine in by_target.values():

            def rerun(mine: list[Slot] = mine) -> None:
                start = datetime.now(UTC)
                for index, slot in enumerate(s for s in mine if s.has_failed):
                    when = start + timedelta(milliseconds=50 * index)
                    # The target may have been removed by a reload meanwhile.
                    with contextlib.suppress(JobLookupError):
                        self.scheduler.modify_job(slot.name, next_run_time=when)

            mine[0].jobs[0].status.on_recovery.append(rerun)

    def _schedule_findings(self) -> None:
        interval = self.settings.findings.interval
        self.scheduler.add_job(
            self.findings.evaluate,
            IntervalTrigger(seconds=interval),
            id="findings",
            name="findings",
            misfire_grace_time=max(1, int(interval)),
        )

    def run(self) -> int:
        # Signals reach the main thread through a socket the interpreter writes each signal's
        # number to, from whichever thread the kernel delivered it to; the Python handlers
        # do nothing. Waiting on an Event instead was not interrupted when another thread
        # took the signal, so a SIGHUP was sometimes never acted on; and setting an Event in
        # a handler can deadlock on the lock the interrupted main thread holds.
        receiver, sender = socket.socketpair()
        sender.setblocking(False)
        signal.set_wakeup_fd(sender.fileno(), warn_on_full_buffer=False)
        for signum in (*STOP_SIGNALS, signal.SIGHUP):
            signal.signal(signum, _carried_by_the_wakeup_socket)
        try:
            return self._serve(receiver)
        finally:
            signal.set_wakeup_fd(-1)
            receiver.close()
            sender.close()

    def _serve(self, signals: socket.socket) -> int:
        memory.limit_heaps()
        # A scrape hands the interpreter lock back and forth a few times (accept, read,
        # write). With a collector or the findings busy in Python, each hand-over waited up
        # to the default 5 ms switch interval: scrapes of a 50,000-series exposition took
        # 30 ms and more at the 99th percentile. 1 ms costs the busy thread little.
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        self.http.start()
        self._schedule(self.jobs)
        self._schedule_findings()
        self.scheduler.start()
        log.info(
            "started",
            listen=f"{split_listen(self.settings.listen)[0]}:{self.http.port}",
            scheme=self.http.scheme,
            targets=[t.name for t in self.targets],
            collectors=len(self.jobs),
            shard=f"{self.settings.shard_index}/{self.settings.shard_count}",
        )
        while True:
            received = set(signals.recv(64))
            stop = sorted(received & set(STOP_SIGNALS))
            if stop:
                log.info("stopping", signal=signal.Signals(stop[0]).name)
                break
            if signal.SIGHUP in received:
                self.reload()
        self.shutdown()
        log.info("stopped")
        return 0

    def reload(self) -> None:
        """Apply the configuration as it is now: unchanged targets run on untouched."""
        if self._load is None:
            log.warning("reload_unsupported")
            return
        try:
            settings = self._load()
            targets = shard(settings, build_targets(settings, self.budget))
            policy = build_policy(settings, targets)
            web = load_web_config(settings.web_config_file)
        except ConfigError as exc:
            log.error("reload_failed", error=str(exc))
            return
        current = {t.name: t for t in self.targets}
        wanted = {t.name for t in targets}
        kept: list[Target] = []
        started: list[Target] = []
        stopped = [t for name, t in current.items() if name not in wanted]
        for target in targets:
            old = current.get(target.name)
            if old is not None and old.signature == target.signature:
                kept.append(old)
                continue
            if old is not None:
                stopped.append(old)
            started.append(target)
        for target in stopped:
            self._stop_target(target)
        new_jobs = make_jobs_adopted(started, self.store)
        with self._jobs_lock:
            self.jobs = [j for j in self.jobs if j.target in kept] + new_jobs
        order = {t.name: index for index, t in enumerate(targets)}
        self.targets = sorted((*kept, *started), key=lambda t: order[t.name])
        self.findings.replace(self.targets, policy)
        # A renewed certificate or a changed password applies without a restart.
        self.http.protect(web)
        self._schedule(new_jobs)
        ignored = [k for k in RESTART_ONLY if _setting(settings, k) != _setting(self.settings, k)]
        self.settings = settings
        self.budget.limit = settings.max_connections
        self._publish_daemon_metrics()
        log.info(
            "reloaded",
            kept=[t.name for t in kept],
            started=[t.name for t in started],
            stopped=[t.name for t in stopped],
            **({"need_restart": ignored} if ignored else {}),
        )

    def _stop_target(self, target: Target) -> None:
        with self._jobs_lock:
            mine = [j for j in self.jobs if j.target is target]
        for slot in slots_of(mine):
            with contextlib.suppress(JobLookupError):
                self.scheduler.remove_job(slot.name)
        # Dropped first, so that a run still ending cannot bring its series back.
        self.store.drop_target(target.name)
        target.close()

    def shutdown(self) -> None:
        # Running queries are bounded by statement_timeout; do not wait for them to end.
        self.scheduler.shutdown(wait=False)
        self.http.stop()
        for target in self.targets:
            target.close()


def make_jobs_adopted(targets: list[Target], store: SnapshotStore) -> list[CollectorJob]:
    """Jobs for targets joining a running daemon: their snapshots are theirs from now on."""
    for target in targets:
        store.adopt(target.name, target)
    return make_jobs(targets, store)
