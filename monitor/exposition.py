"""Render metric families once, when a snapshot is made, and join the pieces at scrape time.

A scrape then costs a join of bytes, whatever the number of series. Families are rendered
one at a time so that the same family coming from several snapshots (one per target) can
be grouped under a single HELP/TYPE header, as both exposition formats require.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest as generate_text
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics


@dataclass(frozen=True)
class Fragment:
    header: bytes
    body: bytes


class _Fixed:
    """The smallest thing prometheus_client's formatters accept as a registry."""

    def __init__(self, family: Metric) -> None:
        self._family = family

    def collect(self) -> Iterable[Metric]:
        return [self._family]


def _split(rendered: bytes) -> bytes:
    return b"".join(
        line for line in rendered.splitlines(keepends=True) if not line.startswith(b"#")
    )


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def render_text(families: Iterable[Metric]) -> dict[str, Fragment]:
    """Prometheus text format 0.0.4, keyed by family name.

    The header is written here rather than taken from prometheus_client because its text
    formatter always names a counter's TYPE line `<name>_total`, which would mistype
    postgres_exporter-compatible counters that carry no such suffix.
    """
    fragments: dict[str, Fragment] = {}
    for family in families:
        if not family.samples:
            continue
        name = family.samples[0].name
        kind = "gauge" if family.type == "info" else family.type
        header = f"# HELP {name} {_escape_help(family.documentation)}\n# TYPE {name} {kind}\n"
        fragments[family.name] = Fragment(header.encode(), _split(generate_text(_Fixed(family))))
    return fragments


def _openmetrics_family(family: Metric) -> Metric:
    if family.type != "counter":
        return family
    renamed = Metric(family.name, family.documentation, family.type)
    for sample in family.samples:
        renamed.add_sample(family.name + "_total", sample.labels, sample.value)
    return renamed


def render_openmetrics(families: Iterable[Metric]) -> dict[str, Fragment]:
    fragments: dict[str, Fragment] = {}
    for family in families:
        if not family.samples:
            continue
        rendered = generate_openmetrics(_Fixed(_openmetrics_family(family)))  # type: ignore[no-untyped-call]
        lines = rendered.splitlines(keepends=True)
        header = b"".join(line for line in lines if line.startswith(b"#") and line != b"# EOF\n")
        body = b"".join(line for line in lines if not line.startswith(b"#"))
        fragments[family.name] = Fragment(header, body)
    return fragments


def join(pieces: Iterable[Mapping[str, Fragment]], openmetrics: bool = False) -> bytes:
    """One exposition from many snapshots' fragments, each family under one header."""
    grouped: dict[str, list[Fragment]] = {}
    for fragments in pieces:
        for name, fragment in fragments.items():
            grouped.setdefault(name, []).append(fragment)
    out: list[bytes] = []
    for name in sorted(grouped):
        parts = grouped[name]
        out.append(parts[0].header)
        out.extend(part.body for part in parts)
    if openmetrics:
        out.append(b"# EOF\n")
    return b"".join(out)
