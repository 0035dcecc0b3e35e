"""`pgmon demo` as a user runs it: a real process with the default binaries discovery,
watched over HTTP until every planted problem shows, then stopped with Ctrl-C (SIGINT); it
must leave no process and no file behind. Runs once, not per PostgreSQL version."""

from __future__ import annotations

import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

from monitor.demo.summary import Status, Summary
from tests.daemon import free_port, parse, value, wait_for

# Every check the demo plants a problem for; the last two come and go with the cycles.
PLANTED = {
    "unused_index",
    "duplicate_index",
    "invalid_index",
    "missing_fk_index",
    "sequence_exhaustion",
    "idle_in_transaction",
    "blocked_sessions",
    "replication_lag",
}


class DemoProcess:
    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        clean = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "PGMON_"))}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "monitor", "demo", *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**clean, **(env or {})},
        )
        self.port: int | None = None  # pgmon's, when the test chose it
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._readers = [
            threading.Thread(target=self._read, args=(self.proc.stdout, self.lines), daemon=True),
            threading.Thread(target=self._read, args=(self.proc.stderr, self.errors), daemon=True),
        ]
        for reader in self._readers:
            reader.start()

    @staticmethod
    def _read(stream: IO[str] | None, into: list[str]) -> None:
        assert stream is not None
        for line in stream:
            into.append(line.rstrip("\n"))

    @property
    def stdout(self) -> str:
        return "\n".join(self.lines)

    def banner(self, label: str) -> str:
        """The rest of the (indented) banner line that starts with ``label``."""
        for line in self.lines:
            if line.startswith("  ") and line.strip().startswith(label + " "):
                return line.strip()[len(label) :].strip()
        raise AssertionError(f"no {label!r} line in the output:\n{self.stdout}")

    def pid(self, label: str) -> int:
        match = re.search(r"\bpid (\d+)", self.banner(label))
        assert match, self.banner(label)
        return int(match.group(1))

    def finish(self, timeout: float) -> tuple[int, str]:
        """Wait for the exit; its status and standard error."""
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the demo did not stop within {timeout:g}s") from None
        for reader in self._readers:
            reader.join(5)
        return self.proc.returncode, "\n".join(self.errors)


def get(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=5) as response:
        body: bytes = response.read()
        return body


def running(pid: int) -> bool:
    """Whether ``pid`` is alive; a zombie is not (whether it is reaped depends on whoever
    is PID 1 in the machine or container, e.g. for a postmaster that pg_ctl detached)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def processes_mentioning(text: str) -> list[str]:
    """Command lines of live processes that contain ``text`` (e.g. a data directory)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if text in args:
            found.append(f"{cmdline.parent.name}: {args}")
    return found


@pytest.fixture
def demo() -> Iterator[DemoProcess]:
    port = free_port()
    process = DemoProcess(
        "--listen", f"127.0.0.1:{port}",
        "--duration", "150",  # a safety net: the test stops it long before
        "--summary-interval", "1",
        "--prometheus",
        "--alertmanager",
    )  # fmt: skip
    process.port = port
    try:
        yield process
    finally:
        if process.proc.poll() is None:
            process.proc.send_signal(signal.SIGINT)
            process.finish(60)


def test_demo_shows_every_planted_problem_and_leaves_nothing(demo: DemoProcess) -> None:
    base = f"http://127.0.0.1:{demo.port}"

    def started() -> bool:
        if demo.proc.poll() is not None:
            raise AssertionError(f"the demo exited ({demo.proc.returncode}):\n{demo.stdout}")
        return any(line.startswith("Ctrl-C stops everything") for line in demo.lines)

    wait_for(started, 90, "the demo to start")
    workdir = Path(demo.banner("files").split(" (")[0])
    children = ("primary", "standby", "pgmon", "prometheus", "alertmanager")
    pids = {name: demo.pid(name) for name in children}
    assert workdir.is_dir() and (workdir / "pgmon.yaml").is_file()
    assert demo.banner("metrics") == f"{base}/metrics"

    series = wait_for(
        lambda: (
            (s := parse(get(f"{base}/metrics").decode()))
            and value(s, "pg_up", target="primary") == 1
            and value(s, "pg_up", target="standby") == 1
            and s
        ),
        30,
        "pg_up 1 for both targets",
    )
    assert value(series, "pg_replication_is_replica", target="standby") == 1

    seen: set[str] = set()

    def all_seen() -> bool:
        seen.update(f["check"] for f in json.loads(get(f"{base}/findings")))
        return seen >= PLANTED

    try:
        wait_for(all_seen, 60, "every planted problem in /findings", every=0.5)
    except AssertionError:
        raise AssertionError(f"missing: {sorted(PLANTED - seen)}\n{demo.stdout}") from None
    # The summary printed them too (plain lines: stdout is not a terminal).
    wait_for(
        lambda: {c for c in PLANTED if re.search(rf"^\w+\s+{c}\s", demo.stdout, re.M)} == PLANTED,
        10,
        "the summary to list every planted check",
    )
    assert "\x1b[" not in demo.stdout
    assert re.search(r"targets: primary up, standby up", demo.stdout)

    prometheus = demo.banner("prometheus").split()[0]
    query = urllib.parse.urlencode({"query": 'pg_up{job="pgmon"}'})
    wait_for(
        lambda: len(json.loads(get(f"{prometheus}/api/v1/query?{query}"))["data"]["result"]) == 2,
        30,
        "Prometheus to scrape pgmon",
    )
    rules = json.loads(get(f"{prometheus}/api/v1/rules"))["data"]["groups"]
    assert any(r.get("name") == "PostgresInvalidIndex" for g in rules for r in g["rules"])
    workload_log = workdir / "workload.log"
    assert not workload_log.exists(), workload_log.read_text()

    started_stop = time.monotonic()
    demo.proc.send_signal(signal.SIGINT)
    code, err = demo.finish(60)
    assert code == 0, f"{err}\n{demo.stdout}"
    assert time.monotonic() - started_stop < 30
    assert demo.lines[-1] == f"pgmon demo: stopped; deleted {workdir}"
    assert not workdir.exists()
    assert {name: pid for name, pid in pids.items() if running(pid)} == {}
    assert processes_mentioning(str(workdir)) == []


def test_a_failure_during_start_up_leaves_nothing(tmp_path: Path) -> None:
    fake = tmp_path / "prometheus"
    fake.write_text("#!/bin/sh\necho 'fake prometheus: bad flag' >&2\nexit 3\n")
    fake.chmod(0o755)
    path = f"{tmp_path}{os.pathsep}{os.environ.get('PATH', '')}"
    demo = DemoProcess("--listen", f"127.0.0.1:{free_port()}", "--prometheus", env={"PATH": path})
    code, err = demo.finish(90)
    assert code == 1, f"{err}\n{demo.stdout}"
    assert "prometheus exited with status 3" in err
    assert "fake prometheus: bad flag" in err
    match = re.search(r"all files in (\S+)$", demo.stdout, re.M)
    assert match, demo.stdout
    workdir = match.group(1)
    assert demo.lines[-1] == f"pgmon demo: stopped; deleted {workdir}"
    assert not Path(workdir).exists()
    assert processes_mentioning(workdir) == []


def test_missing_prometheus_is_a_clear_error_before_anything_starts(tmp_path: Path) -> None:
    demo = DemoProcess("--alertmanager", env={"PATH": str(tmp_path)})
    code, err = demo.finish(30)
    assert code == 2
    assert "--prometheus needs prometheus on the PATH" in err
    assert demo.stdout == ""


def test_busy_listen_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        demo = DemoProcess("--listen", f"127.0.0.1:{port}")
        code, err = demo.finish(30)
    assert code == 2
    assert f"--listen 127.0.0.1:{port}: Address already in use" in err


def test_summary_on_a_terminal_redraws_and_elsewhere_prints_changes() -> None:
    finding = {
        "check": "invalid_index",
        "severity": "warning",
        "target": "primary",
        "datname": "shop",
        "object": "public.products_sku_key",
    }
    status = Status([finding], {"primary": True, "standby": True})
    plain = io.StringIO()
    summary = Summary(plain, ["banner line"], tty=False)
    summary.start()
    summary.show(status, now=0)
    summary.show(status, now=5)  # nothing new: nothing printed
    lines = plain.getvalue().splitlines()
    assert lines[0] == "banner line"
    assert lines.count("SEVERITY  CHECK          TARGET   DATABASE  OBJECT") == 1
    assert "warning   invalid_index  primary  shop      public.products_sku_key" in lines
    assert "open findings: 1 warning" in plain.getvalue()

    terminal = io.StringIO()
    summary = Summary(terminal, ["banner line"], tty=True)
    summary.start()
    summary.show(status, now=0)
    summary.show(Status(error="pgmon does not answer"), now=5)
    screens = terminal.getvalue().split("\x1b[H\x1b[2J\x1b[3J")
    assert screens[0] == ""  # every screen starts with a clear, the banner included
    assert [s.splitlines()[0] for s in screens[1:]] == ["banner line", "banner line"]
    assert "pgmon does not answer" in screens[2]
