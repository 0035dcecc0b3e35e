"""Start `pgmon run` as a real subprocess and read it the way Prometheus would."""

from __future__ import annotations

import base64
import gzip
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from prometheus_client.parser import text_string_to_metric_families

from tests.leaks import watch

Series = dict[tuple[str, frozenset[tuple[str, str]]], float]

# postgres_exporter's names that predate the naming conventions; kept for compatibility.
EXPORTER_COUNT_NAMES = {
    "pg_locks_count",
    "pg_stat_activity_count",
    "pg_stat_archiver_archived_count",
    "pg_stat_archiver_failed_count",
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def parse(text: str) -> Series:
    """Samples by (name, labels). prometheus_client's parser names every counter sample
    `<family>_total`, also where the exposition (postgres_exporter style) has no suffix."""
    series: Series = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            series[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return series


def value(series: Series, name: str, **labels: str) -> float | None:
    wanted = set(labels.items())
    found = [v for (n, lbl), v in series.items() if n == name and wanted <= lbl]
    if len(found) > 1:
        raise AssertionError(f"{name}{labels} matches {len(found)} series")
    return found[0] if found else None


def wait_for(check: Callable[[], Any], timeout: float, what: str, every: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what} (last: {last!r})")


class Daemon:
    """A `pgmon run` process listening on a free loopback port. With `ca_file`, it is
    reached over https and its certificate checked against that CA; with `credentials`
    (user, password), every request carries them unless told otherwise."""

    def __init__(
        self,
        config: dict[str, Any],
        env: dict[str, str] | None = None,
        ca_file: Path | None = None,
        credentials: tuple[str, str] | None = None,
    ) -> None:
        self.port = free_port()
        self.scheme = "https" if ca_file else "http"
        self.tls = ssl.create_default_context(cafile=str(ca_file)) if ca_file else None
        self.credentials = credentials
        self._dir = Path(tempfile.mkdtemp(prefix="pgmon-daemon-"))
        self.config_path = self._dir / "pgmon.yaml"
        self.config_path.write_text(yaml.safe_dump({"listen": f"127.0.0.1:{self.port}", **config}))
        self.log_path = self._dir / "pgmon.log"
        self._log = self.log_path.open("wb")
        clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGMON_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run", "--config", str(self.config_path)],
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**clean_env, **(env or {})},
        )

    def __enter__(self) -> Daemon:
        try:
            wait_for(self._answers, 20, "pgmon to answer /healthz")
        except AssertionError:
            self.stop()
            raise AssertionError(f"pgmon did not start; log:\n{self.logs()}") from None
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _answers(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"pgmon exited with {self.proc.returncode}; log:\n{self.logs()}")
        try:
            return self.get("/healthz")[0] == 200
        except OSError:
            return False

    def get(
        self,
        path: str,
        headers: dict[str, str] | None = None,
        credentials: tuple[str, str] | None = None,
        anonymous: bool = False,
    ) -> tuple[int, dict[str, str], bytes]:
        """With the daemon's credentials, or `credentials`, or none at all (`anonymous`)."""
        headers = dict(headers or {})
        chosen = None if anonymous else credentials or self.credentials
        if chosen:
            token = base64.b64encode(":".join(chosen).encode()).decode()
            headers["Authorization"] = f"Basic {token}"
        request = urllib.request.Request(
            f"{self.scheme}://127.0.0.1:{self.port}{path}", headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=5, context=self.tls) as response:
                answer = response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as exc:
            answer = exc.code, dict(exc.headers), exc.read()
        body = answer[2]
        if answer[1].get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        watch(f"the body of GET {path}", body)
        return answer

    def scrape(self) -> Series:
        status, headers, body = self.get("/metrics", {"Accept-Encoding": "gzip"})
        assert status == 200, body
        if headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        return parse(body.decode())

    def wait_ready(self, timeout: float = 30) -> None:
        wait_for(lambda: self.get("/readyz")[0] == 200, timeout, "/readyz to answer 200")

    def logs(self) -> str:
        if not self._log.closed:
            self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"pgmon ignored signal {sig} for {timeout}s") from None
        if not self._log.closed:
            self._log.close()
            watch("the log of pgmon run", self.log_path.read_bytes())
        return self.proc.returncode


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    clean_env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGMON_"))}
    result = subprocess.run(
        [sys.executable, "-m", "monitor", *args],
        capture_output=True,
        text=True,
        env={**clean_env, **(env or {})},
        timeout=timeout,
        check=False,
    )
    command = f"pgmon {args[0]}" if args else "pgmon"
    watch(f"the standard output of {command}", result.stdout)
    watch(f"the standard error of {command}", result.stderr)
    return result


def lint(exposition: str) -> tuple[list[str], list[str]]:
    """What `promtool check metrics` says about an exposition in the text format: its
    complaints about the postgres_exporter-compatible names pgmon keeps on purpose (counters
    without `_total`, some named `_count`, and the `_count` gauges), and every other
    complaint."""
    from monitor.catalog import entries

    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run tests/install-deps.sh"
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=exposition, capture_output=True, text=True
    )
    compat_counters = {
        e.metric.name
        for e in entries()
        if e.metric.kind == "counter" and not e.metric.name.endswith("_total")
    }
    known: list[str] = []
    other: list[str] = []
    for line in (checked.stdout + checked.stderr).splitlines():
        if not line.strip():
            continue
        name = line.split()[0]
        about_name = 'should have "_total" suffix' in line or (
            'should not have "_count" suffix' in line
        )
        compatible = about_name and (name in compat_counters or name in EXPORTER_COUNT_NAMES)
        (known if compatible else other).append(line)
    return known, other
