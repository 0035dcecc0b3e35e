"""Panel builders: each returns one panel of Grafana's JSON model (schema 39).

A builder takes what differs from panel to panel (title, description, queries, unit) and
fills in what must be the same everywhere: the `${datasource}` variable on the panel and on
every query, reference ids, legend and tooltip settings. Sizes are given as width and
height only; monitor.grafana.layout places the panels and numbers them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Json = dict[str, Any]

# The datasource is a dashboard variable, so the same file works with any Prometheus,
# provisioned or imported in the UI, without an __inputs section.
DATASOURCE: Json = {"type": "prometheus", "uid": "${datasource}"}


@dataclass(frozen=True)
class Query:
    expr: str
    legend: str = ""
    # Instant: one value per series at the end of the time range (stats, bar gauges, tables).
    instant: bool = False


@dataclass(frozen=True)
class Column:
    """A table column: a field of the query results (a label, or "Value #B" for query B's
    value when a table has several queries), shown under `title`."""

    field: str
    title: str
    unit: str = ""
    mappings: tuple[Json, ...] = ()


def mapping(values: Mapping[str, tuple[str, str]]) -> Json:
    """A value mapping: {"0": ("primary", "blue")} shows 0 as a blue "primary"."""
    options = {
        value: {"text": text, "color": color, "index": index}
        for index, (value, (text, color)) in enumerate(values.items())
    }
    return {"type": "value", "options": options}


def thresholds(base: str = "green", *steps: tuple[float, str]) -> Json:
    """Colours by value: `base` below the first step, then each step's colour from its value."""
    levels: list[Json] = [{"color": base, "value": None}]
    levels += [{"color": color, "value": value} for value, color in steps]
    return {"mode": "absolute", "steps": levels}


def _targets(queries: Sequence[Query], table: bool) -> list[Json]:
    if len(queries) > 26:
        raise ValueError("a panel takes at most 26 queries (refId A..Z)")
    return [
        {
            "datasource": DATASOURCE,
            "editorMode": "code",
            "expr": query.expr,
            "format": "table" if table else "time_series",
            "instant": table or query.instant,
            "legendFormat": query.legend or "__auto",
            "range": not (table or query.instant),
            "refId": chr(ord("A") + index),
        }
        for index, query in enumerate(queries)
    ]


def _panel(
    kind: str,
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    size: tuple[int, int],
    defaults: Json,
    options: Json,
    overrides: Sequence[Json] = (),
    transformations: Sequence[Json] = (),
    table: bool = False,
) -> Json:
    if not description.strip():
        raise ValueError(f"panel {title!r} needs a description")
    width, height = size
    return {
        "datasource": DATASOURCE,
        "description": description,
        "fieldConfig": {"defaults": defaults, "overrides": list(overrides)},
        "gridPos": {"h": height, "w": width, "x": 0, "y": 0},
        "options": options,
        "targets": _targets(queries, table),
        "title": title,
        "transformations": list(transformations),
        "type": kind,
    }


def timeseries(
    title: str,
    description: str,
    *queries: Query,
    unit: str,
    size: tuple[int, int] = (12, 8),
    maximum: float | None = None,
) -> Json:
    defaults: Json = {
        "custom": {"fillOpacity": 10, "lineWidth": 1, "showPoints": "never", "spanNulls": False},
        "min": 0,  # every series shown is a count, size, age or rate: never negative
        "thresholds": thresholds(),
        "unit": unit,
    }
    if maximum is not None:
        defaults["max"] = maximum
    options = {
        "legend": {
            "calcs": ["lastNotNull", "max"],
            "displayMode": "table",
            "placement": "bottom",
            "showLegend": True,
        },
        "tooltip": {"mode": "multi", "sort": "desc"},
    }
    return _panel(
        "timeseries", title, description, queries, size=size, defaults=defaults, options=options
    )


def _reduce_last() -> Json:
    return {"calcs": ["lastNotNull"], "fields": "", "values": False}


def stat(
    title: str,
    description: str,
    *queries: Query,
    unit: str = "none",
    colours: Json | None = None,
    mappings: Sequence[Json] = (),
    size: tuple[int, int] = (6, 5),
) -> Json:
    defaults: Json = {
        "mappings": list(mappings),
        "thresholds": colours or thresholds(),
        "unit": unit,
    }
    options = {
        "colorMode": "value",
        "graphMode": "none",
        "justifyMode": "auto",
        "orientation": "auto",
        "reduceOptions": _reduce_last(),
        "textMode": "value_and_name",  # the legend names the target
    }
    return _panel(
        "stat", title, description, queries, size=size, defaults=defaults, options=options
    )


def bargauge(
    title: str,
    description: str,
    *queries: Query,
    unit: str,
    colours: Json | None = None,
    size: tuple[int, int] = (12, 8),
) -> Json:
    defaults: Json = {"min": 0, "thresholds": colours or thresholds(), "unit": unit}
    options = {
        "displayMode": "gradient",
        "orientation": "horizontal",
        "reduceOptions": _reduce_last(),
        "showUnfilled": True,
        "valueMode": "color",
    }
    return _panel(
        "bargauge", title, description, queries, size=size, defaults=defaults, options=options
    )


def table(
    title: str,
    description: str,
    *queries: Query,
    columns: Sequence[Column],
    sort_by: str,
    size: tuple[int, int] = (24, 8),
) -> Json:
    """Instant queries in table format, merged into one row per label set (rows of several
    queries that share their common labels become one), reduced to `columns` in order."""
    titles = [column.title for column in columns]
    if sort_by not in titles:
        raise ValueError(f"table {title!r}: sort column {sort_by!r} is not one of {titles}")
    transformations: list[Json] = [{"id": "merge", "options": {}}] if len(queries) > 1 else []
    fields = [column.field for column in columns]
    transformations += [
        {"id": "filterFieldsByName", "options": {"include": {"names": fields}}},
        {
            "id": "organize",
            "options": {
                "excludeByName": {},
                "indexByName": {field: index for index, field in enumerate(fields)},
                "renameByName": {column.field: column.title for column in columns},
            },
        },
    ]
    # Overrides match the renamed (display) names, which is what Grafana compares.
    overrides = [
        {
            "matcher": {"id": "byName", "options": column.title},
            "properties": [
                *([{"id": "unit", "value": column.unit}] if column.unit else []),
                *([{"id": "mappings", "value": list(column.mappings)}] if column.mappings else []),
            ],
        }
        for column in columns
        if column.unit or column.mappings
    ]
    defaults: Json = {
        # inspect: long values (SQL) open in full from the cell.
        "custom": {
            "align": "auto",
            "cellOptions": {"type": "auto"},
            "filterable": True,
            "inspect": True,
        },
        "thresholds": thresholds(),
    }
    options = {
        "cellHeight": "sm",
        "showHeader": True,
        "sortBy": [{"desc": True, "displayName": sort_by}],
    }
    return _panel(
        "table",
        title,
        description,
        queries,
        size=size,
        defaults=defaults,
        options=options,
        overrides=overrides,
        transformations=transformations,
        table=True,
    )


def row(title: str, description: str) -> Json:
    """A row header; the panels after it, up to the next row, belong to it."""
    return {
        "collapsed": False,
        "datasource": DATASOURCE,
        "description": description,
        "gridPos": {"h": 1, "w": 24, "x": 0, "y": 0},
        "panels": [],
        "title": title,
        "type": "row",
    }
