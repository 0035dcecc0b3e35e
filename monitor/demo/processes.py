"""Processes the demo starts (pgmon, Prometheus, Alertmanager): output to a log file in the
demo's directory, each in its own session (a Ctrl-C reaches only the demo, which stops
them in order), stopped by PID."""

from __future__ import annotations

import http.client
import os
import shutil
import subprocess
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from monitor.demo.errors import DemoError, MissingTool
from monitor.pginstance import WaitTimeout
from monitor.pginstance.osuser import poll


def find_program(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise MissingTool(f"none of {', '.join(names)} is on the PATH")


def http_ok(url: str, timeout: float = 2.0) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return bool(response.status == 200)
    except (OSError, http.client.HTTPException):
        return False


def log_tail(path: Path, lines: int = 30) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:]) or "(empty log)"


class Child:
    """One program we started."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        log_path: Path,
        env: Mapping[str, str] | None = None,
    ) -> None:
        self.name = name
        self.log_path = log_path
        with log_path.open("ab") as log:
            self._proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                start_new_session=True,
            )

    @property
    def pid(self) -> int:
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def failure(self) -> str:
        """Why the process is gone, with the end of its log."""
        return (
            f"{self.name} exited with status {self._proc.returncode}; "
            f"the end of {self.log_path}:\n{log_tail(self.log_path)}"
        )

    def wait_healthy(self, url: str, timeout: float = 30.0) -> None:
        """Wait until ``url`` answers 200; fail (and stop the process) if it exits first."""

        def answers() -> bool | None:
            if not self.alive():
                raise DemoError(self.failure())
            return True if http_ok(url) else None

        try:
            poll(answers, timeout, f"{self.name} to answer {url}", interval=0.2)
        except WaitTimeout as exc:
            self.stop()
            raise DemoError(
                f"{exc}; the end of {self.log_path}:\n{log_tail(self.log_path)}"
            ) from None

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; both sent to our child's PID only."""
        if self._proc.poll() is not None:
            return
        self._proc.terminate()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait(5)


def clean_environment() -> dict[str, str]:
    """Our environment without PG* and PGMON_* variables, which would point pgmon at other
    servers or add settings to the demo's."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}
