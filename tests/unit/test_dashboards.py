"""Grafana dashboards: the committed files are what monitor.grafana produces, and their
structure holds what Grafana and the end-to-end checks rely on."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.catalog import metric_names
from monitor.findings.checks import all_checks
from monitor.grafana.__main__ import main
from monitor.grafana.generate import DASHBOARDS, rendered, stale

ROOT = Path(__file__).resolve().parents[2]
DIRECTORY = ROOT / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
UIDS = {
    "pgmon-overview.json": "pgmon-overview",
    "pgmon-queries.json": "pgmon-queries",
    "pgmon-indexes.json": "pgmon-indexes",
    "pgmon-locks.json": "pgmon-locks",
    "pgmon-replication.json": "pgmon-replication",
}
PER_DATABASE = {"pgmon-queries.json", "pgmon-indexes.json", "pgmon-locks.json"}
# What Grafana puts in place of its variables, for checking queries as Prometheus sees them.
SUBSTITUTES = {
    "$__rate_interval": "1m",
    "$__interval": "15s",
    "$__range": "1h",
    "$target": ".*",
    "$datname": ".*",
}


def load(name: str) -> dict[str, Any]:
    return json.loads((DIRECTORY / name).read_text())  # type: ignore[no-any-return]


def panels(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return dashboard["panels"]  # type: ignore[no-any-return]


def queries(dashboard: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for panel in panels(dashboard):
        for target in panel.get("targets", []):
            yield panel["title"], target


def substituted(expr: str) -> str:
    for variable, value in SUBSTITUTES.items():
        expr = expr.replace(variable, value)
    return expr


def datasources(node: Any) -> Iterator[Any]:
    """Every value under a "datasource" key, anywhere in the model."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "datasource":
                yield value
            yield from datasources(value)
    elif isinstance(node, list):
        for item in node:
            yield from datasources(item)


ALL = pytest.mark.parametrize("name", sorted(UIDS))


def test_committed_files_are_what_the_generator_produces() -> None:
    assert stale(DIRECTORY) == [], "run `python3 -m monitor.grafana`"
    assert set(DASHBOARDS) == set(UIDS)


def test_check_exits_1_when_a_file_differs(tmp_path: Path) -> None:
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    assert main(["--dir", str(tmp_path)]) == 0
    assert main(["--check", "--dir", str(tmp_path)]) == 0
    (tmp_path / "pgmon-locks.json").write_text("{}\n")
    assert main(["--check", "--dir", str(tmp_path)]) == 1
    main(["--dir", str(tmp_path)])
    (tmp_path / "old-name.json").write_text("{}\n")
    assert main(["--check", "--dir", str(tmp_path)]) == 1


def test_rendering_is_stable() -> None:
    first, second = rendered(), rendered()
    assert first == second
    for text in first.values():
        assert text.endswith("}\n") and "\n  " in text  # 2-space indent, trailing newline


def test_uids_are_stable_and_unique() -> None:
    assert {name: load(name)["uid"] for name in UIDS} == UIDS


@ALL
def test_dashboard_settings(name: str) -> None:
    dashboard = load(name)
    assert dashboard["schemaVersion"] == 39
    assert dashboard["editable"] is True
    assert dashboard["refresh"] == "30s"
    assert dashboard["time"] == {"from": "now-1h", "to": "now"}
    assert "__inputs" not in dashboard
    assert "pgmon" in dashboard["tags"]
    assert dashboard["description"].strip()
    [link] = dashboard["links"]
    assert link["type"] == "dashboards" and link["tags"] == ["pgmon"]
    assert link["includeVars"] is True and link["keepTime"] is True


@ALL
def test_variables(name: str) -> None:
    variables = {v["name"]: v for v in load(name)["templating"]["list"]}
    datasource = variables["datasource"]
    assert datasource["type"] == "datasource" and datasource["query"] == "prometheus"
    target = variables["target"]
    assert target["query"] == "label_values(pg_up, target)"
    assert target["multi"] is True and target["includeAll"] is True
    assert target["allValue"] in (".*", ".+")
    if name in PER_DATABASE:
        datname = variables["datname"]
        assert datname["query"] == (
            'label_values(pg_stat_database_numbackends{target=~"$target"}, datname)'
        )
        assert datname["multi"] is True and datname["includeAll"] is True
        # The statements remainder and server-wide findings have no database.
        assert datname["allValue"] == ".*"
    else:
        assert "datname" not in variables
    for _, query in queries(load(name)):
        assert "$datname" not in query["expr"] or "datname" in variables


@ALL
def test_every_datasource_is_the_variable(name: str) -> None:
    dashboard = load(name)
    for panel in panels(dashboard):
        assert panel["datasource"] == DATASOURCE, panel["title"]
        for target in panel.get("targets", []):
            assert target["datasource"] == DATASOURCE, panel["title"]
    for found in datasources(dashboard):
        assert found == DATASOURCE
    assert dashboard["annotations"]["list"] == []  # the built-in one has a fixed uid


@ALL
def test_panels_have_unique_ids_and_do_not_overlap(name: str) -> None:
    found = panels(load(name))
    ids = [panel["id"] for panel in found]
    assert len(ids) == len(set(ids))
    taken: dict[tuple[int, int], str] = {}
    for panel in found:
        grid = panel["gridPos"]
        assert grid["x"] >= 0 and grid["w"] > 0 and grid["x"] + grid["w"] <= 24, panel["title"]
        for x in range(grid["x"], grid["x"] + grid["w"]):
            for y in range(grid["y"], grid["y"] + grid["h"]):
                assert (x, y) not in taken, f"{panel['title']} overlaps {taken[(x, y)]}"
                taken[(x, y)] = panel["title"]


@ALL
def test_panels_are_described(name: str) -> None:
    for panel in panels(load(name)):
        description = panel["description"]
        assert description.strip(), panel["title"]
        # "Empty unless ..." starts a sentence: readers and the end-to-end check look for it.
        for match in re.finditer("empty unless", description, re.IGNORECASE):
            before = description[: match.start()].rstrip()
            assert description[match.start()] == "E", panel["title"]
            assert not before or before.endswith("."), panel["title"]


@ALL
def test_queries(name: str) -> None:
    known = metric_names() | {"up"}
    checks = {check.id for check in all_checks()}
    for title, query in queries(load(name)):
        expr = query["expr"]
        assert expr.strip(), title
        for metric in re.findall(r"\b(?:pg|pgmon)_[a-z0-9_]+\b", expr):
            assert metric in known, f"{title}: {metric} is not in docs/metrics.md"
        for window in re.findall(r"\[([^\]]*)\]", expr):
            assert window in ("$__rate_interval", "$__range"), f"{title}: window [{window}]"
        for listed in re.findall(r'check=~"([^"]*)"', expr):
            if listed != ".+":
                assert set(listed.split("|")) <= checks, title


@ALL
def test_targets_have_unique_ref_ids_and_tables_name_them(name: str) -> None:
    for panel in panels(load(name)):
        targets = panel.get("targets", [])
        ref_ids = [target["refId"] for target in targets]
        assert len(ref_ids) == len(set(ref_ids)), panel["title"]
        if panel["type"] != "table":
            continue
        assert all(t["format"] == "table" and t["instant"] for t in targets), panel["title"]
        [kept] = [t for t in panel["transformations"] if t["id"] == "filterFieldsByName"]
        for field in kept["options"]["include"]["names"]:
            if field.startswith("Value"):
                # Grafana names the values "Value #<refId>" when a table has several queries.
                expected = {"Value"} if len(targets) == 1 else {f"Value #{r}" for r in ref_ids}
                assert field in expected, f"{panel['title']}: {field}"


def test_queries_are_valid_promql(tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool not found: `make deps` installs Prometheus"
    rules = [
        {"record": f"dashboard:query:{number}", "expr": substituted(query["expr"])}
        for number, (_, query) in enumerate(
            (q for name in sorted(UIDS) for q in queries(load(name))), start=1
        )
    ]
    path = tmp_path / "queries.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboards", "rules": rules}]}))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr
