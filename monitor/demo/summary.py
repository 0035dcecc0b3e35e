"""The live summary: the open findings as pgmon serves them, every few seconds.

On a terminal the screen is redrawn (endpoints on top, then the table); otherwise, as in a
log or a CI job, a block of plain lines is printed whenever the findings change.
"""

from __future__ import annotations

import http.client
import json
import shutil
import time
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from prometheus_client.parser import text_string_to_metric_families

_CLEAR = "\x1b[H\x1b[2J\x1b[3J"
_ORDER = {"critical": 0, "warning": 1, "info": 2}
_COLUMNS = ("SEVERITY", "CHECK", "TARGET", "DATABASE", "OBJECT")
_MAX_ROWS = 40


@dataclass(frozen=True)
class Status:
    findings: list[dict[str, Any]] = field(default_factory=list)
    up: dict[str, bool] = field(default_factory=dict)  # pg_up by target
    error: str | None = None


def fetch(base_url: str, timeout: float = 5.0) -> Status:
    """/findings and the pg_up samples of /metrics from the daemon at ``base_url``."""
    try:
        with urllib.request.urlopen(f"{base_url}/findings", timeout=timeout) as response:
            findings = json.load(response)
        with urllib.request.urlopen(f"{base_url}/metrics", timeout=timeout) as response:
            lines = [
                line
                for line in response.read().decode("utf-8", errors="replace").splitlines()
                if line.startswith("pg_up{")
            ]
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return Status(error=f"pgmon does not answer at {base_url}: {exc}")
    up = {
        sample.labels.get("target", "?"): sample.value == 1
        for family in text_string_to_metric_families("\n".join(lines) + "\n")
        for sample in family.samples
    }
    return Status(findings, up)


def headline(status: Status, now: float) -> str:
    clock = time.strftime("%H:%M:%S", time.localtime(now))
    if status.error is not None:
        return f"{clock}  {status.error}"
    targets = ", ".join(f"{name} {'up' if ok else 'DOWN'}" for name, ok in status.up.items())
    counts: dict[str, int] = {}
    for finding in status.findings:
        counts[finding["severity"]] = counts.get(finding["severity"], 0) + 1
    levels = sorted(counts, key=lambda s: _ORDER.get(s, 9))
    tally = ", ".join(f"{counts[s]} {s}" for s in levels) or "none yet"
    return f"{clock}  targets: {targets or 'not collected yet'}  |  open findings: {tally}"


def table(findings: Sequence[dict[str, Any]], width: int | None = None) -> list[str]:
    """One line per finding, worst first; the object is cut to fit ``width``."""
    ordered = sorted(
        findings,
        key=lambda f: (_ORDER.get(f["severity"], 9), f["check"], f["target"], f["object"]),
    )
    rows = [
        (f["severity"], f["check"], f["target"], f["datname"] or "-", f["object"] or "-")
        for f in ordered
    ]
    if not rows:
        return []
    widths = [max(len(row[i]) for row in [_COLUMNS, *rows]) for i in range(4)]
    lines = []
    for row in [_COLUMNS, *rows[:_MAX_ROWS]]:
        text = "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
        line = f"{text}  {row[4]}"
        if width is not None and len(line) > width:
            line = line[: max(width - 1, 0)] + "…"
        lines.append(line)
    if len(rows) > _MAX_ROWS:
        lines.append(f"... and {len(rows) - _MAX_ROWS} more at /findings")
    return lines


class Summary:
    def __init__(self, out: TextIO, banner: Sequence[str], tty: bool | None = None) -> None:
        self._out = out
        self._banner = list(banner)
        self._tty = out.isatty() if tty is None else tty
        self._last: object = None

    def start(self) -> None:
        if not self._tty:  # on a terminal the banner is part of every redraw
            self._write(self._banner)

    def show(self, status: Status, now: float | None = None) -> None:
        now = time.time() if now is None else now
        if self._tty:
            width = shutil.get_terminal_size().columns
            lines = [*self._banner, "", headline(status, now), *table(status.findings, width)]
            self._out.write(_CLEAR)
            self._write(lines)
            return
        keys = sorted(
            (f["severity"], f["check"], f["target"], f["object"]) for f in status.findings
        )
        seen = (status.error, tuple(sorted(status.up.items())), tuple(keys))
        if seen != self._last:
            self._last = seen
            self._write(["", headline(status, now), *table(status.findings)])

    def _write(self, lines: Sequence[str]) -> None:
        self._out.write("".join(f"{line}\n" for line in lines))
        self._out.flush()
