"""A dashboard's frame: variables, links, time settings, and the grid layout of its panels.

Panels come in sections (a row header and the panels under it); positions and ids are
computed here, left to right and wrapping at Grafana's 24 columns, so that no file has
hand-written coordinates and no two panels can overlap.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

from monitor.grafana.panels import DATASOURCE, Json, row

GRID_WIDTH = 24
TAG = "pgmon"


@dataclass(frozen=True)
class Section:
    title: str
    description: str
    panels: Sequence[Json]


@dataclass(frozen=True)
class Dashboard:
    uid: str
    title: str
    description: str
    sections: Sequence[Section]
    # Adds the `datname` variable, for dashboards whose queries select databases.
    per_database: bool = False


def layout(sections: Sequence[Section]) -> list[Json]:
    """Copies of the panels with gridPos and id filled in, each section under its row."""
    placed: list[Json] = []
    y = 0
    for section in sections:
        header = row(section.title, section.description)
        header["gridPos"]["y"] = y
        placed.append(header)
        y += 1
        x, line_height = 0, 0
        for template in section.panels:
            panel = copy.deepcopy(template)
            width, height = panel["gridPos"]["w"], panel["gridPos"]["h"]
            if not 0 < width <= GRID_WIDTH:
                raise ValueError(f"panel {panel['title']!r} is {width} columns wide")
            if x + width > GRID_WIDTH:
                y, x, line_height = y + line_height, 0, 0
            panel["gridPos"] = {"h": height, "w": width, "x": x, "y": y}
            placed.append(panel)
            x += width
            line_height = max(line_height, height)
        y += line_height
    for number, panel in enumerate(placed, start=1):
        panel["id"] = number
    return placed


def _datasource_variable() -> Json:
    return {
        "current": {},
        "hide": 0,
        "includeAll": False,
        "label": "Data source",
        "multi": False,
        "name": "datasource",
        "options": [],
        "query": "prometheus",
        "refresh": 1,
        "regex": "",
        "type": "datasource",
    }


def _label_variable(name: str, label: str, query: str, all_value: str) -> Json:
    return {
        "allValue": all_value,
        # Everything selected until the user narrows it down.
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "datasource": DATASOURCE,
        "definition": query,
        "hide": 0,
        "includeAll": True,
        "label": label,
        "multi": True,
        "name": name,
        "options": [],
        "query": query,
        "refresh": 2,  # on time range change: targets and databases come and go
        "regex": "",
        "sort": 1,
        "type": "query",
    }


def variables(per_database: bool) -> list[Json]:
    found = [
        _datasource_variable(),
        # Every target has a name, so "All" is `.+`.
        _label_variable("target", "Target", "label_values(pg_up, target)", ".+"),
    ]
    if per_database:
        # "All" must also match datname="": the statements remainder (queryid="other") and
        # server-wide findings carry no database.
        found.append(
            _label_variable(
                "datname",
                "Database",
                'label_values(pg_stat_database_numbackends{target=~"$target"}, datname)',
                ".*",
            )
        )
    return found


def links() -> list[Json]:
    """Every pgmon dashboard, found by tag, keeping the time range and the variables."""
    return [
        {
            "asDropdown": False,
            "icon": "external link",
            "includeVars": True,
            "keepTime": True,
            "tags": [TAG],
            "targetBlank": False,
            "title": "pgmon",
            "tooltip": "",
            "type": "dashboards",
            "url": "",
        }
    ]


def model(dashboard: Dashboard) -> Json:
    """The dashboard's JSON model, ready to provision or import."""
    return {
        # Empty: Grafana adds its built-in annotations itself, and a hard-coded annotation
        # datasource would be the one uid in the file that is not ${datasource}.
        "annotations": {"list": []},
        "description": dashboard.description,
        "editable": True,
        "fiscalYearStartMonth": 0,
        "graphTooltip": 1,  # shared crosshair: the same moment on every panel
        "id": None,
        "links": links(),
        "panels": layout(dashboard.sections),
        "refresh": "30s",
        "schemaVersion": 39,
        "tags": [TAG],
        "templating": {"list": variables(dashboard.per_database)},
        "time": {"from": "now-1h", "to": "now"},
        "timepicker": {},
        "timezone": "browser",
        "title": dashboard.title,
        "uid": dashboard.uid,
        "version": 1,
        "weekStart": "",
    }
