"""The PromQL that dashboards and rules send, and the metric names it reads."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import promql_parser
import yaml

ROOT = Path(__file__).resolve().parents[1]
DASHBOARDS = sorted((ROOT / "dashboards").glob("*.json"))
RULES = ROOT / "alerts" / "pgmon-rules.yml"

# What Grafana puts in place of its variables; chosen so that every query is valid PromQL
# and selects everything, with windows long enough for rate() at a 1s scrape interval.
GRAFANA_VALUES = {
    "target": ".*",
    "datname": ".*",
    "__rate_interval": "30s",
    "__interval": "15s",
    "__range": "1m",
    "__range_s": "60",
}
_VARIABLE = re.compile(r"\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]|\$(\w+)")
_LABEL_VALUES = re.compile(r"^\s*label_values\((.*),\s*(\w+)\s*\)\s*$", re.S)
_QUERY_RESULT = re.compile(r"^\s*query_result\((.*)\)\s*$", re.S)


@dataclass(frozen=True)
class Query:
    where: str  # dashboard file and panel title, or rule name
    expr: str
    description: str = ""


def grafana_substitute(expr: str) -> str:
    def one(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name.isdigit():  # $1 in label_replace(): Grafana leaves what is not a variable
            return match.group(0)
        if name not in GRAFANA_VALUES:
            raise KeyError(f"unknown Grafana variable ${name} in {expr!r}")
        return GRAFANA_VALUES[name]

    return _VARIABLE.sub(one, expr)


def _panels(panels: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for panel in panels:
        yield panel
        yield from _panels(panel.get("panels", []))


def dashboard_queries(path: Path) -> list[Query]:
    """Every panel target's expr, and every query variable's PromQL, substituted."""
    board = json.loads(path.read_text())
    found = []
    for panel in _panels(board.get("panels", [])):
        for target in panel.get("targets", []):
            where = f"{path.name}: {panel.get('title')} [{target.get('refId')}]"
            expr = grafana_substitute(target["expr"])
            found.append(Query(where, expr, panel.get("description", "")))
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("type") != "query":
            continue
        query = variable["query"]
        text = query["query"] if isinstance(query, dict) else query
        expr = variable_expr(grafana_substitute(text))
        if expr:
            found.append(Query(f"{path.name}: variable {variable['name']}", expr))
    return found


def variable_expr(text: str) -> str:
    """The PromQL behind a Grafana variable query ('' for label_values(label) alone)."""
    if match := _LABEL_VALUES.match(text):
        return match.group(1)
    if match := _QUERY_RESULT.match(text):
        return match.group(1)
    if text.strip().startswith("label_values("):
        return ""
    return text


def rule_queries(path: Path = RULES) -> list[Query]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return [
        Query(rule.get("alert") or rule["record"], rule["expr"])
        for group in groups
        for rule in group["rules"]
    ]


def recorded_names(path: Path = RULES) -> set[str]:
    groups = yaml.safe_load(path.read_text())["groups"]
    return {rule["record"] for group in groups for rule in group["rules"] if "record" in rule}


def selectors(expr: str) -> list[tuple[str, list[str]]]:
    """(metric name, label names matched) of every vector selector in `expr`."""
    found: list[tuple[str, list[str]]] = []

    def visit(node: Any) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            labels = [m.name for m in node.matchers.matchers if m.name != "__name__"]
            name = node.name or next(
                (m.value for m in node.matchers.matchers if m.name == "__name__"), ""
            )
            found.append((name, labels))
            return
        if isinstance(node, promql_parser.MatrixSelector):
            visit(node.vector_selector)
            return
        for attribute in ("lhs", "rhs", "expr", "param"):
            child = getattr(node, attribute, None)
            if child is not None:
                visit(child)
        for child in getattr(node, "args", None) or ():
            visit(child)

    visit(promql_parser.parse(expr))
    return found
