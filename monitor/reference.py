"""The configuration reference, generated from the settings model and the collector specs.

`python -m monitor.reference` rewrites the README section between the markers and
docs/metrics.md; a test fails when either is out of date.
"""

from __future__ import annotations

import sys
from pathlib import Path

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from monitor.catalog import render as render_catalog
from monitor.collectors import ALL
from monitor.durations import format_seconds
from monitor.settings import (
    CollectorSettings,
    DatabaseFilter,
    Settings,
    TargetSettings,
)

BEGIN = "<!-- BEGIN GENERATED CONFIGURATION REFERENCE -->"
END = "<!-- END GENERATED CONFIGURATION REFERENCE -->"


def _default(field: FieldInfo) -> str:
    if field.is_required():
        return "required"
    value = field.get_default(call_default_factory=True)
    if value is None:
        return "collector default"
    if isinstance(value, float):
        return format_seconds(value)
    if value in ([], {}):
        return "empty"
    if isinstance(value, BaseModel):
        return "see below"
    return f"`{value}`"


def _table(model: type[BaseModel], prefix: str, env: bool) -> list[str]:
    lines = ["| key | default | environment | meaning |", "|---|---|---|---|"]
    for name, field in model.model_fields.items():
        variable = f"`PGMON_{name.upper()}`" if env else "-"
        lines.append(
            f"| `{prefix}{name}` | {_default(field)} | {variable} | {field.description or ''} |"
        )
    return lines


def settings_reference() -> str:
    lines = [
        BEGIN,
        "",
        "### Global settings",
        "",
        *_table(Settings, "", env=True),
        "",
        "Nested keys take a double underscore in the environment, e.g.",
        "`PGMON_COLLECTORS__STATEMENTS__TOP_N=200`; lists and mappings (`PGMON_TARGETS`)",
        "take JSON. Durations are seconds or strings such as `250ms`, `15s`, `5m`.",
        "",
        "### Each entry of `targets`",
        "",
        *_table(TargetSettings, "targets[].", env=False),
        "",
        "### `databases` of a target",
        "",
        *_table(DatabaseFilter, "targets[].databases.", env=False),
        "",
        "### Each entry of `collectors` (global, or per target; per target wins)",
        "",
        *_table(CollectorSettings, "collectors.<name>.", env=False),
        "",
        "### Collectors and their defaults",
        "",
        "| collector | interval | timeout | top_n | scope | what it collects |",
        "|---|---|---|---|---|---|",
    ]
    for spec in ALL:
        scope = "every database" if spec.per_database else "server"
        lines.append(
            f"| `{spec.name}` | {format_seconds(spec.interval)} | {format_seconds(spec.timeout)} "
            f"| {spec.top_n or '-'} | {scope} | {spec.description} |"
        )
    lines += ["", END]
    return "\n".join(lines)


def rewrite_readme(readme: str) -> str:
    head, found, rest = readme.partition(BEGIN)
    if not found:
        raise ValueError(f"README has no {BEGIN} marker")
    _, found, tail = rest.partition(END)
    if not found:
        raise ValueError(f"README has no {END} marker")
    return head + settings_reference() + tail


def main(root: str = ".") -> int:
    base = Path(root)
    readme = base / "README.md"
    readme.write_text(rewrite_readme(readme.read_text()))
    (base / "docs").mkdir(exist_ok=True)
    (base / "docs" / "metrics.md").write_text(render_catalog("markdown"))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
