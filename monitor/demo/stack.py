"""Everything the demo runs, started in order and stopped in reverse: a primary and its
standby, the planted problems and the workload, pgmon, and optionally Alertmanager and
Prometheus. All files live in one temporary directory, deleted at the end."""

from __future__ import annotations

import os
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from monitor.demo.config import monitor_dsn, pgmon_config
from monitor.demo.errors import DemoError
from monitor.demo.external import Service, start_alertmanager, start_prometheus
from monitor.demo.processes import Child, clean_environment, http_ok
from monitor.demo.schema import DATABASE, MONITOR_ROLE, Secrets, create_roles, plant
from monitor.demo.workload import Timings, Workload
from monitor.pginstance import Cluster, Installation, loopback_hba, run_as, wait_for_replay


@dataclass(frozen=True)
class Options:
    listen: str = "127.0.0.1:9189"  # a concrete HOST:PORT (see lifecycle.resolve_listen)
    prometheus: bool = False
    alertmanager: bool = False
    timings: Timings = field(default_factory=Timings)


def base_url(listen: str) -> str:
    host, _, port = listen.rpartition(":")
    host = host.strip("[]")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"  # a wildcard address also answers on loopback
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class Demo:
    def __init__(self, installation: Installation, options: Options) -> None:
        self.options = options
        self.secrets = Secrets(*(secrets.token_hex(16) for _ in range(3)))
        # Passwords over TCP (scram), so that other local users cannot walk in.
        self.cluster = Cluster(
            installation,
            workdir_prefix="pgmon-demo-pg",
            password=self.secrets.superuser,
            hba=loopback_hba("scram-sha-256"),
        )
        self.url = base_url(options.listen)
        self.workload: Workload | None = None
        self.pgmon: Child | None = None
        self.services: dict[str, Service] = {}
        self._log_lock = threading.Lock()

    @property
    def workdir(self) -> Path:
        if self.cluster.workdir is None:
            raise DemoError("the demo has not been started")
        return self.cluster.workdir

    def start(self, progress: Callable[[str], None]) -> None:
        installation = self.cluster.installation
        progress(
            f"starting PostgreSQL {installation.major} ({installation.source}) as OS user "
            f"{run_as().user}: a primary and a streaming standby"
        )
        self.cluster.start()
        primary, standby = self.cluster.primary, self.cluster.replica
        progress(f"primary and standby running; all files in {self.workdir}")
        progress(f"planting problems in database {DATABASE!r}")
        create_roles(primary, self.secrets)
        plant(primary, self.secrets)
        wait_for_replay(primary, standby)
        progress("starting the workload")
        self.workload = Workload(
            primary, standby, self.secrets.app, self._log, self.options.timings
        )
        self.workload.start()
        progress(f"starting pgmon on {self.url}")
        self._start_pgmon()
        if self.options.alertmanager:
            progress("starting Alertmanager")
            self._start_service("alertmanager", lambda: start_alertmanager(self.workdir))
        if self.options.prometheus:
            progress("starting Prometheus")
            alertmanager = self.services.get("alertmanager")
            pgmon_address = self.url.removeprefix("http://")
            self._start_service(
                "prometheus",
                lambda: start_prometheus(
                    self.workdir, pgmon_address, alertmanager.url if alertmanager else None
                ),
            )

    def _start_pgmon(self) -> None:
        passfile = self.workdir / "pgmon.pgpass"
        descriptor = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as pgpass:
            pgpass.write(f"127.0.0.1:*:*:{MONITOR_ROLE}:{self.secrets.monitor}\n")
        primary, standby = self.cluster.primary, self.cluster.replica
        config = pgmon_config(
            self.options.listen,
            monitor_dsn(primary.port, MONITOR_ROLE, passfile),
            monitor_dsn(standby.port, MONITOR_ROLE, passfile),
        )
        config_path = self.workdir / "pgmon.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        argv = [sys.executable, "-m", "monitor", "run", "--config", str(config_path)]
        self.pgmon = Child("pgmon", argv, self.workdir / "pgmon.log", clean_environment())
        self.pgmon.wait_healthy(f"{self.url}/healthz")
        # Until every collector has run once, pg_up and the findings are not worth showing.
        deadline = time.monotonic() + 30
        while not http_ok(f"{self.url}/readyz") and time.monotonic() < deadline:
            self.check_alive()
            time.sleep(0.2)

    def _start_service(self, name: str, start: Callable[[], Service]) -> None:
        service = start()
        self.services[name] = service  # before waiting: stopped on any failure
        service.wait_ready()

    def _log(self, message: str) -> None:
        """The workload's errors, in workload.log (the terminal shows the summary)."""
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S")
        with self._log_lock, (self.workdir / "workload.log").open("a", encoding="utf-8") as f:
            f.write(f"{stamp} {message}\n")

    def check_alive(self) -> None:
        """Raise DemoError when pgmon, Prometheus or Alertmanager has gone away."""
        children = [self.pgmon, *(s.child for s in self.services.values())]
        for child in children:
            if child is not None and not child.alive():
                raise DemoError(child.failure())

    def banner(self) -> list[str]:
        primary, standby = self.cluster.primary, self.cluster.replica
        workdir = self.workdir
        lines = [
            f"pgmon demo: PostgreSQL {self.cluster.major} ({self.cluster.installation.source})",
            f"  primary       127.0.0.1:{primary.port}  pid {primary.pid}  "
            f"psql {primary.dsn(DATABASE)}",
            f"  standby       127.0.0.1:{standby.port}  pid {standby.pid}  "
            f"(streaming, slot {self.cluster.slot_name})",
            f"  metrics       {self.url}/metrics",
            f"  findings      {self.url}/findings",
            f"  pgmon         pid {self.pgmon.pid if self.pgmon else '-'}  "
            f"config {workdir / 'pgmon.yaml'}  log {workdir / 'pgmon.log'}",
        ]
        for name, service in self.services.items():
            lines.append(f"  {name:<13} {service.url}  pid {service.child.pid}")
        lines += [
            f"  files         {workdir} (deleted on exit)",
            "Ctrl-C stops everything and removes the files.",
        ]
        return lines

    def close(self) -> list[str]:
        """Stop everything, newest first, and delete the directory; returns what failed."""
        problems: list[str] = []

        def attempt(what: str, action: Callable[[], None]) -> None:
            try:
                action()
            except Exception as exc:
                problems.append(f"{what}: {exc}")

        for name, service in reversed(self.services.items()):
            attempt(f"stopping {name}", service.child.stop)
        if self.pgmon is not None:
            attempt("stopping pgmon", self.pgmon.stop)
        if self.workload is not None:
            attempt("stopping the workload", self.workload.stop)
        workdir = self.cluster.workdir
        attempt("stopping PostgreSQL", self.cluster.cleanup)
        if workdir is not None and workdir.exists():
            attempt(f"deleting {workdir}", lambda: shutil.rmtree(workdir))
        return problems
