"""The dashboards as files: one JSON document each, rendered the same way every time so that
the committed files can be compared with what the code produces."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from monitor.grafana import indexes, locks, overview, replication, statements
from monitor.grafana.dashboard import Dashboard, model

# File name (under dashboards/) -> the dashboard written there.
DASHBOARDS: dict[str, Callable[[], Dashboard]] = {
    "pgmon-overview.json": overview.dashboard,
    "pgmon-queries.json": statements.dashboard,
    "pgmon-indexes.json": indexes.dashboard,
    "pgmon-locks.json": locks.dashboard,
    "pgmon-replication.json": replication.dashboard,
}


def render(dashboard: Dashboard) -> str:
    # Sorted keys and a trailing newline: byte-for-byte stable, and diffs stay readable.
    return json.dumps(model(dashboard), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[str, str]:
    return {name: render(build()) for name, build in DASHBOARDS.items()}


def write(directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, text in rendered().items():
        path = directory / name
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths


def stale(directory: Path) -> list[str]:
    """Names of the dashboard files in `directory` that are missing or differ, and of JSON
    files there that the code no longer produces (Grafana would still load them)."""
    expected = rendered()
    differ = [
        name
        for name, text in expected.items()
        if not (directory / name).is_file()
        or (directory / name).read_text(encoding="utf-8") != text
    ]
    extra = sorted(path.name for path in directory.glob("*.json") if path.name not in expected)
    return differ + extra
