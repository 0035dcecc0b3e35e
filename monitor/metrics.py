"""Metric declarations and the turn from samples into prometheus_client metric families."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal, NamedTuple

from prometheus_client.core import Metric

Kind = Literal["gauge", "counter", "info"]


@dataclass(frozen=True)
class MetricSpec:
    """One exposed metric. `name` is exactly what a scrape shows in the text format."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    min_version: int = 0
    removed_in: int = 0  # server_version_num of the first release without it; 0: still there

    @property
    def family(self) -> str:
        """Family name: OpenMetrics puts `_total` on counter samples and `_info` on info ones."""
        if self.kind == "counter":
            return self.name.removesuffix("_total")
        if self.kind == "info":
            return self.name.removesuffix("_info")
        return self.name

    def all_labels(self) -> tuple[str, ...]:
        return ("target", *self.labels)


class Sample(NamedTuple):
    """One value of a declared metric; a tuple, as tens of thousands are made per run."""

    metric: str
    labels: tuple[str, ...]
    value: float


def gauge(
    name: str, help: str, *labels: str, min_version: int = 0, removed_in: int = 0
) -> MetricSpec:
    return MetricSpec(name, "gauge", help, labels, min_version, removed_in)


def counter(
    name: str, help: str, *labels: str, min_version: int = 0, removed_in: int = 0
) -> MetricSpec:
    return MetricSpec(name, "counter", help, labels, min_version, removed_in)


def info(
    name: str, help: str, *labels: str, min_version: int = 0, removed_in: int = 0
) -> MetricSpec:
    if not name.endswith("_info"):
        raise ValueError(f"info metric {name} must end in _info")
    return MetricSpec(name, "info", help, labels, min_version, removed_in)


def build_families(
    specs: Mapping[str, MetricSpec], target: str, samples: Iterable[Sample]
) -> list[Metric]:
    """Group samples into one family per metric, with the `target` label first.

    Counter samples are named as declared (postgres_exporter's counters have no `_total`);
    the OpenMetrics renderer renames them, see monitor.exposition.
    """
    families: dict[str, Metric] = {}
    for sample in samples:
        spec = specs.get(sample.metric)
        if spec is None:
            raise KeyError(f"sample for undeclared metric {sample.metric}")
        if len(sample.labels) != len(spec.labels):
            raise ValueError(
                f"{spec.name}: {len(sample.labels)} label values for labels {spec.labels}"
            )
        family = families.get(spec.name)
        if family is None:
            family = families[spec.name] = Metric(spec.family, spec.help, spec.kind)
        labels = dict(zip(spec.all_labels(), (target, *sample.labels), strict=True))
        family.add_sample(spec.name, labels, float(sample.value))
    return [families[name] for name in sorted(families)]
