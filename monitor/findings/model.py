"""What a finding is, and what a heuristic sees: the collected rows of every node of a cluster."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

Row = Any  # a namedtuple kept by a collector (see RunContext.keep)


class Severity(IntEnum):
    INFO = 1
    WARNING = 2
    CRITICAL = 3

    @property
    def label(self) -> str:
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        try:
            return cls[text.upper()]
        except KeyError:
            raise ValueError(f"{text!r} is not a severity (info, warning, critical)") from None


@dataclass(frozen=True)
class Finding:
    check: str
    severity: Severity
    target: str
    datname: str
    object: str
    message: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    remediation: str = ""
    rollback: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "severity": self.severity.label,
            "target": self.target,
            "datname": self.datname,
            "object": self.object,
            "message": self.message,
            "evidence": dict(self.evidence),
            "remediation": self.remediation,
            "rollback": self.rollback,
        }


@dataclass(frozen=True)
class Node:
    """One server as the heuristics see it: identity plus the rows its collectors kept."""

    target: str
    server_version: int
    system_identifier: str
    in_recovery: bool
    rows: Mapping[str, Sequence[Row]]

    def get(self, name: str) -> Sequence[Row]:
        return self.rows.get(name, ())


@dataclass(frozen=True)
class Cluster:
    """A primary and its standbys among the targets (same system identifier), or one node."""

    nodes: tuple[Node, ...]

    @property
    def primary(self) -> Node | None:
        return next((n for n in self.nodes if not n.in_recovery), None)

    @property
    def standbys(self) -> tuple[Node, ...]:
        return tuple(n for n in self.nodes if n.in_recovery)


Thresholds = Mapping[str, float]
CheckFunction = Callable[[Cluster, Thresholds], Iterable[Finding]]


@dataclass(frozen=True)
class Threshold:
    name: str
    default: float
    description: str


@dataclass(frozen=True)
class CheckSpec:
    """A heuristic: a stable id, its thresholds (all settings), its docs, and a pure function."""

    id: str
    summary: str
    why: str
    avoids: str
    fix: str
    thresholds: tuple[Threshold, ...]
    evaluate: CheckFunction
    needs: tuple[str, ...] = ()  # names of kept row sets it reads

    def defaults(self) -> dict[str, float]:
        return {t.name: t.default for t in self.thresholds}
