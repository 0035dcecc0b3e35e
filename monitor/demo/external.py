"""Prometheus (loading pgmon's alerting rules) and Alertmanager, when asked for. Each gets
a directory for its configuration and data in the demo's, and a free port on 127.0.0.1;
the start functions return once the process is started, :meth:`Service.wait_ready` waits
until it answers."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from monitor.alerting.render import rules_yaml
from monitor.demo.config import ALERT_MAX_FOR_SECONDS, ALERT_THRESHOLDS
from monitor.demo.processes import Child, find_program
from monitor.pginstance import free_port

PROMETHEUS = ("prometheus",)
ALERTMANAGER = ("prometheus-alertmanager", "alertmanager")  # Debian's name first


@dataclass(frozen=True)
class Service:
    child: Child
    url: str

    def wait_ready(self) -> None:
        self.child.wait_healthy(f"{self.url}/-/ready")


def _start(
    name: str, program: str, workdir: Path, config: dict[str, Any], storage: str, *flags: str
) -> Service:
    home = workdir / name
    (home / f"{name}.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    address = f"127.0.0.1:{free_port()}"
    argv = [
        program,
        f"--config.file={home / f'{name}.yml'}",
        f"{storage}={home / 'data'}",
        f"--web.listen-address={address}",
        *flags,
    ]
    return Service(Child(name, argv, workdir / f"{name}.log"), f"http://{address}")


def start_alertmanager(workdir: Path) -> Service:
    """Alertmanager with one receiver that sends nothing: alerts are seen in its UI."""
    program = find_program(*ALERTMANAGER)
    (workdir / "alertmanager").mkdir()
    config = {
        "route": {
            "receiver": "demo",
            "group_by": ["alertname", "target"],
            "group_wait": "5s",
            "group_interval": "30s",
            "repeat_interval": "4h",
        },
        "receivers": [{"name": "demo"}],
    }
    # A single instance: no gossip port.
    return _start(
        "alertmanager", program, workdir, config, "--storage.path", "--cluster.listen-address="
    )


def start_prometheus(workdir: Path, pgmon: str, alertmanager: str | None) -> Service:
    """Prometheus scraping pgmon at ``pgmon`` (HOST:PORT) every 2 s, with the rules of
    `pgmon alert-rules` at the demo's thresholds; alerts go to ``alertmanager``, if any."""
    program = find_program(*PROMETHEUS)
    home = workdir / "prometheus"
    home.mkdir()
    (home / "pgmon-rules.yml").write_text(
        rules_yaml(ALERT_THRESHOLDS, ALERT_MAX_FOR_SECONDS), encoding="utf-8"
    )
    config: dict[str, Any] = {
        "global": {"scrape_interval": "2s", "evaluation_interval": "2s"},
        "rule_files": ["pgmon-rules.yml"],  # relative to the configuration file
        "scrape_configs": [{"job_name": "pgmon", "static_configs": [{"targets": [pgmon]}]}],
    }
    if alertmanager is not None:
        target = alertmanager.removeprefix("http://")
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [target]}]}]}
    return _start("prometheus", program, workdir, config, "--storage.tsdb.path")
