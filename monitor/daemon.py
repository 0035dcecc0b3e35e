"""The long-running daemon: a scheduler filling snapshots, an HTTP server reading them."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime, timedelta
from types import FrameType

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.interval import IntervalTrigger

from monitor.findings.board import FindingsBoard
from monitor.findings.engine import build_policy
from monitor.http import HttpServer
from monitor.logs import get_logger
from monitor.runner import CollectorJob, TargetStatus
from monitor.settings import Settings, split_listen
from monitor.snapshot import SnapshotStore
from monitor.targets import Target, build_targets

log = get_logger()


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
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.store = SnapshotStore()
        self.targets = build_targets(settings)
        self.jobs = make_jobs(self.targets, self.store)
        self.findings = FindingsBoard(
            self.targets,
            self.store,
            build_policy(settings, self.targets),
            settings.findings.max_series_per_check,
        )
        host, port = split_listen(settings.listen)
        self.http = HttpServer(
            host, port, self.store, self.readiness, self.findings.json, settings.openmetrics
        )
        workers = min(32, max(4, 2 * len(self.targets)))
        self.scheduler = BackgroundScheduler(
            executors={"default": ThreadPoolExecutor(max_workers=workers)},
            job_defaults={"max_instances": 1, "coalesce": True},
            timezone=UTC,
        )
        self._stop = threading.Event()

    def readiness(self) -> tuple[bool, str]:
        pending = [job.name for job in self.jobs if not job.completed.is_set()]
        if pending:
            return False, f"waiting for a first run of {len(pending)} collectors: " + ", ".join(
                pending[:10]
            )
        return True, "ready"

    def _schedule(self) -> None:
        start = datetime.now(UTC)
        for index, job in enumerate(self.jobs):
            interval = job.plan.interval
            self.scheduler.add_job(
                job.run,
                IntervalTrigger(seconds=interval, jitter=min(1.0, interval / 10)),
                id=job.name,
                name=job.name,
                # Spread the first runs a little so that start-up is not one burst of queries.
                next_run_time=start + timedelta(milliseconds=50 * index),
                misfire_grace_time=max(1, int(interval)),
            )

    def _run_soon_after_recovery(self) -> None:
        """A target back from an outage gets all its collectors run now, not at their next
        turn: an hourly collector would otherwise stay failed (and its data stale) for up to
        an hour after the server came back."""
        by_target: dict[str, list[CollectorJob]] = {}
        for job in self.jobs:
            by_target.setdefault(job.target.name, []).append(job)
        for jobs in by_target.values():

            def rerun(jobs: list[CollectorJob] = jobs) -> None:
                start = datetime.now(UTC)
                for index, job in enumerate(jobs):
                    if not job.succeeded:
                        when = start + timedelta(milliseconds=50 * index)
                        self.scheduler.modify_job(job.name, next_run_time=when)

            jobs[0].status.on_recovery.append(rerun)

    def _schedule_findings(self) -> None:
        interval = self.settings.findings.interval
        self.scheduler.add_job(
            self.findings.evaluate,
            IntervalTrigger(seconds=interval),
            id="findings",
            name="findings",
            misfire_grace_time=max(1, int(interval)),
        )

    def _on_signal(self, signum: int, _: FrameType | None) -> None:
        log.info("stopping", signal=signal.Signals(signum).name)
        self._stop.set()

    def run(self) -> int:
        signal.signal(signal.SIGTERM, self._on_signal)
        signal.signal(signal.SIGINT, self._on_signal)
        self.http.start()
        self._schedule()
        self._run_soon_after_recovery()
        self._schedule_findings()
        self.scheduler.start()
        log.info(
            "started",
            listen=f"{split_listen(self.settings.listen)[0]}:{self.http.port}",
            targets=[t.name for t in self.targets],
            collectors=len(self.jobs),
        )
        self._stop.wait()
        self.shutdown()
        log.info("stopped")
        return 0

    def shutdown(self) -> None:
        # Running queries are bounded by statement_timeout; do not wait for them to end.
        self.scheduler.shutdown(wait=False)
        self.http.stop()
        for target in self.targets:
            target.close()
