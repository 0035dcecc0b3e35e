"""What a finding is, and what a heuristic sees: the collected rows of every node of a cluster."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

Row = Any  # a namedtuple kept by a collector (see RunContext.keep)

# Postgres's quote_ident() quotes "$" too, although an identifier may contain it bare.
_PLAIN_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]*")
# Keywords that quote_ident() quotes: PostgreSQL's reserved, type/function-name and
# column-name keywords (unreserved keywords are left bare, as Postgres does).
_KEYWORDS_TEXT = """
    all analyse analyze and any array as asc asymmetric both case cast check collate column
    constraint create current_catalog current_date current_role current_time current_timestamp
    current_user default deferrable desc distinct do else end except false fetch for foreign
    from grant group having in initially intersect into lateral leading limit localtime
    localtimestamp not null offset on only or order placing primary references returning
    select session_user some symmetric system_user table then to trailing true union unique
    user using variadic when where window with
    authorization binary collation concurrently cross current_schema freeze full ilike inner
    is isnull join left like natural notnull outer overlaps right similar tablesample verbose
    between bigint bit boolean char character coalesce dec decimal exists extract float
    greatest grouping inout int integer interval json json_array json_arrayagg json_exists
    json_object json_objectagg json_query json_scalar json_serialize json_table json_value
    least merge_action national nchar none normalize nullif numeric out overlay position
    precision real row setof smallint substring time timestamp treat trim values varchar
    xmlattributes xmlconcat xmlelement xmlexists xmlforest xmlnamespaces xmlparse xmlpi
    xmlroot xmlserialize xmltable
"""
_QUOTED_KEYWORDS = frozenset(_KEYWORDS_TEXT.split())


def quote_ident(name: str) -> str:
    """`name` as Postgres's quote_ident() writes it: bare when that reads back the same."""
    if _PLAIN_IDENTIFIER.fullmatch(name) and name not in _QUOTED_KEYWORDS:
        return name
    return '"' + name.replace('"', '""') + '"'


def qualified(schema: str, name: str) -> str:
    """A schema-qualified name, each part quoted as quote_ident() would."""
    return f"{quote_ident(schema)}.{quote_ident(name)}"


def quote_literal(value: str) -> str:
    """`value` as a SQL string literal (standard_conforming_strings: only ' is doubled)."""
    return "'" + value.replace("'", "''") + "'"


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
    def reference(self) -> Node | None:
        """The node to judge what a standby shares with its primary (catalog, physical
        pages, XID ages): the primary, where fixes run, else the first standby."""
        return self.primary or (self.nodes[0] if self.nodes else None)

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
