"""Render a snapshot once, when it is made, and join the pieces at scrape time.

A scrape then costs a join of bytes, whatever the number of series. Families are rendered
one at a time so that the same family coming from several snapshots (one per target) can
be grouped under a single HELP/TYPE header, as both exposition formats require.

The text format is written here straight from the samples. prometheus_client's formatter
needs a label dict per sample and validates and escapes every label of every sample, which
was most of a collection cycle's CPU at tens of thousands of series; here the label part is
escaped once per row (the metrics of one row share their label values). The unit tests hold
this output byte for byte against prometheus_client's `generate_latest`.
"""

from __future__ import annotations

import functools
import itertools
import math
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from prometheus_client.core import Metric
from prometheus_client.openmetrics.exposition import generate_latest as generate_openmetrics
from prometheus_client.utils import floatToGoString

from monitor.metrics import MetricSpec, Sample

_number: Callable[[float], str] = floatToGoString  # untyped in prometheus_client


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


def _escape_help(text: str) -> str:
    return text.replace("\\", r"\\").replace("\n", r"\n")


def _escape_value(value: str) -> str:
    return value.replace("\\", r"\\").replace("\n", r"\n").replace('"', r"\"")


Grouped = dict[str, list[Sample]]
LabelParts = dict[tuple[tuple[str, ...], tuple[str, ...]], str]


def group(samples: Iterable[Sample]) -> Grouped:
    """Samples by metric name, in the order given. Fastest when the samples of a metric
    come one after another (collectors give them so): a slice per metric, not per sample."""
    grouped: Grouped = {}
    for metric, members in itertools.groupby(samples, _METRIC):
        found = grouped.get(metric)
        if found is None:
            grouped[metric] = list(members)
        else:
            found.extend(members)
    return grouped


_METRIC = operator.itemgetter(0)


@dataclass(frozen=True)
class Rendering:
    """Text-format fragments keyed by family name, with what a later rendering of the same
    source reuses: the samples they were written from, and the escaped label parts."""

    fragments: dict[str, Fragment]
    grouped: Grouped
    label_parts: LabelParts


def render_text(
    specs: Mapping[str, MetricSpec],
    target: str,
    samples: Sequence[Sample] | Grouped,
    previous: Rendering | None = None,
) -> Rendering:
    """Prometheus text format 0.0.4; families sorted by name, samples in the order given,
    `target` the first label (as monitor.metrics.build_families has them).

    `previous`: an earlier rendering for the same target and specs. A family whose samples
    are all equal to that rendering's is not written again: between two runs most families
    of a catalogue collector (sizes, vacuum counts, timestamps, idle tables' counters) do
    not change, and comparing is several times cheaper than writing. A changed family's
    lines take their escaped label parts from it.

    The header is written here rather than taken from prometheus_client because its text
    formatter always names a counter's TYPE line `<name>_total`, which would mistype
    postgres_exporter-compatible counters that carry no such suffix.
    """
    grouped = samples if isinstance(samples, dict) else group(samples)
    # One dict for all renderings of a source, each adding the label parts it wrote: only
    # the next rendering of the same source reads it, in the same thread.
    label_parts: LabelParts = previous.label_parts if previous is not None else {}
    # Values repeat (0, 1, sizes). NaN never matches itself; -0.0 would match 0.0, so it
    # is written apart.
    numbers: dict[float, str] = {}
    fragments: dict[str, Fragment] = {}
    for name in sorted(grouped):
        spec = specs.get(name)
        if spec is None:
            raise KeyError(f"sample for undeclared metric {name}")
        if previous is not None and previous.grouped.get(name) == grouped[name]:
            fragments[spec.family] = previous.fragments[spec.family]
            continue
        lines = []
        for sample in grouped[name]:
            key = (spec.labels, sample.labels)
            part = label_parts.get(key)
            if part is None:
                part = label_parts[key] = _label_part(spec, target, sample)
            value = sample.value
            negative_zero = value == 0 and math.copysign(1, value) < 0
            number = None if negative_zero else numbers.get(value)
            if number is None:
                number = _number(value)
                if not negative_zero:
                    numbers[value] = number
            lines.append(f"{name}{{{part}}} {number}\n")
        fragments[spec.family] = Fragment(_header(spec), "".join(lines).encode())
    series = sum(map(len, grouped.values()))
    if len(label_parts) > 2 * series + 64:
        # Series came and went (statements, sessions): forget the parts of those gone.
        label_parts = {
            key: part
            for name, members in grouped.items()
            for sample in members
            if (part := label_parts.get(key := (specs[name].labels, sample.labels)))
        }
    return Rendering(fragments, grouped, label_parts)


def _label_part(spec: MetricSpec, target: str, sample: Sample) -> str:
    if len(sample.labels) != len(spec.labels):
        raise ValueError(f"{spec.name}: {len(sample.labels)} label values for labels {spec.labels}")
    every = spec.all_labels()
    values = (target, *sample.labels)
    # Label names sorted, as prometheus_client writes them.
    return ",".join(f'{every[i]}="{_escape_value(values[i])}"' for i in _sorted_positions(every))


@functools.cache
def _sorted_positions(names: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted(range(len(names)), key=names.__getitem__))


@functools.cache
def _header(spec: MetricSpec) -> bytes:
    kind = "gauge" if spec.kind == "info" else spec.kind
    return f"# HELP {spec.name} {_escape_help(spec.help)}\n# TYPE {spec.name} {kind}\n".encode()


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
        # Split at b"\n" only: bytes.splitlines() also splits at a carriage return, which a
        # label value may hold unescaped (neither format escapes it).
        lines = [line + b"\n" for line in rendered.split(b"\n")[:-1]]
        header = b"".join(line for line in lines if line.startswith(b"#") and line != b"# EOF\n")
        body = b"".join(line for line in lines if not line.startswith(b"#"))
        fragments[family.name] = Fragment(header, body)
    return fragments


def pieces(fragments: Iterable[Mapping[str, Fragment]], openmetrics: bool = False) -> list[bytes]:
    """One exposition from many snapshots' fragments, each family under one header, as the
    pieces to send one after the other (joined, they would be one more copy of it all)."""
    grouped: dict[str, list[Fragment]] = {}
    for by_name in fragments:
        for name, fragment in by_name.items():
            grouped.setdefault(name, []).append(fragment)
    out: list[bytes] = []
    for name in sorted(grouped):
        parts = grouped[name]
        out.append(parts[0].header)
        out.extend(part.body for part in parts)
    if openmetrics:
        out.append(b"# EOF\n")
    return out
