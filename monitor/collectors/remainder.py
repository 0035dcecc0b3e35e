"""The target-wide cut of a per-database top-N collector.

Each database's query already keeps its own `top_n` largest relations and sums the rest into
a remainder row. With many databases that still means up to `top_n` named relations per
database; this cut keeps the `top_n` largest over all of a target's databases and folds the
others into their own database's remainder, so the series count is bounded by `top_n` plus
one remainder per database, whatever the number of databases. Every relation of the global
top N is in its database's top N, so the cut is exact.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from operator import itemgetter

from monitor.metrics import Sample

Labels = tuple[str, ...]

# The key of RunContext.state under which the runner leaves, after each run, the labels
# of the relations the cut kept named (in every database of the target).
KEPT_NAMED = "kept_named"

_LABELS = itemgetter(1)


@dataclass(frozen=True)
class Remainder:
    """How rows are ranked and folded; a row is one label tuple with its metrics."""

    # The label values of the remainder row a row folds into (its database's).
    remainder_of: Callable[[Labels], Labels]
    # Metrics whose sum ranks a row: the larger, the more likely kept.
    weight: tuple[str, ...]
    # Metrics that are not summed into the remainder (timestamps, flags).
    unsummed: frozenset[str] = frozenset()
    # A metric whose value 0 ranks the row ahead of every row where it is not 0.
    zero_first: str | None = None

    def rank(self, values: dict[str, float]) -> tuple[bool, float]:
        first = self.zero_first is not None and values.get(self.zero_first) == 0
        return first, sum(values.get(metric, 0.0) for metric in self.weight)


def cut(
    samples: Sequence[Sample], top_n: int, rule: Remainder
) -> tuple[list[Sample], frozenset[Labels]]:
    """The samples with at most `top_n` relations named, and the label tuples of those."""
    named = [labels for labels in set(map(_LABELS, samples)) if rule.remainder_of(labels) != labels]
    if len(named) <= top_n:
        return samples if isinstance(samples, list) else list(samples), frozenset(named)
    rows: dict[Labels, dict[str, float]] = {}
    for sample in samples:
        rows.setdefault(sample.labels, {})[sample.metric] = sample.value
    ranked = sorted(named, key=lambda labels: rule.rank(rows[labels]), reverse=True)
    dropped = set(ranked[top_n:])
    sums: dict[Labels, dict[str, float]] = {}
    kept: list[Sample] = []
    for sample in samples:
        if sample.labels not in dropped:
            if rule.remainder_of(sample.labels) == sample.labels:
                into = sums.setdefault(sample.labels, {})
                into[sample.metric] = into.get(sample.metric, 0.0) + sample.value
            else:
                kept.append(sample)
        elif sample.metric not in rule.unsummed:
            into = sums.setdefault(rule.remainder_of(sample.labels), {})
            into[sample.metric] = into.get(sample.metric, 0.0) + sample.value
    kept.extend(
        Sample(metric, labels, value)
        for labels, values in sums.items()
        for metric, value in values.items()
    )
    return kept, frozenset(ranked[:top_n])
