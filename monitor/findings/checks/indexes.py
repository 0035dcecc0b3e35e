"""Index checks: unused, duplicate, redundant and invalid indexes, foreign keys without one.

All read the rows of the index_catalog collector (queries/index_catalog.sql): one row per
user index of each database, with pg_index's arrays as integers. Indexes are compared
element by element on those arrays, the access method and the deparsed expressions and
predicate; definitions as text are only used to write rollback SQL.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from monitor.findings.model import (
    CheckSpec,
    Cluster,
    Finding,
    Node,
    Row,
    Severity,
    Threshold,
    Thresholds,
    qualified,
    quote_ident,
)

MIB = 1024 * 1024
DAY = 86400.0
NAMEDATALEN = 64  # identifiers are cut to NAMEDATALEN - 1 bytes

CATALOG = "index_catalog"
FKEYS = "index_catalog_fkeys"
WINDOW = "index_catalog_window"

Key = tuple[str, int]  # (datname, index oid): oids are the same on physical standbys

_PARTITIONED_DROP = (
    "-- CONCURRENTLY is not allowed for a partitioned index: this DROP INDEX locks the "
    "table and all its partitions until it ends.\n"
)
_PARTITIONED_CREATE = (
    "-- CONCURRENTLY is not allowed on a partitioned table: this CREATE INDEX blocks writes "
    "to every partition while it builds. To avoid that, create the index ON ONLY the parent, "
    "build each partition's index CONCURRENTLY and ALTER INDEX ... ATTACH PARTITION it.\n"
)


# -- shared helpers ---------------------------------------------------------------------


def index_name(row: Row) -> str:
    return qualified(row.schemaname, row.indexrelname)


def table_name(row: Row) -> str:
    return qualified(row.schemaname, row.relname)


def must_keep(row: Row) -> bool:
    """Backs a constraint, is the replica identity, or a foreign key depends on it."""
    return bool(row.constraint_type or row.is_replident or row.referenced_by_fk)


def attached(row: Row) -> bool:
    """An index partition: it goes with its parent index and cannot be dropped alone."""
    return row.parent_indexrelid is not None


def texts_known(row: Row) -> bool:
    """False when the collector could not deparse the expressions or predicate (a lock)."""
    return (not row.has_exprs or row.exprs is not None) and (
        not row.has_pred or row.pred is not None
    )


def drop_sql(row: Row) -> str:
    if row.partitioned:
        return f"{_PARTITIONED_DROP}DROP INDEX {index_name(row)};"
    return f"DROP INDEX CONCURRENTLY {index_name(row)};"


def create_sql(row: Row) -> str:
    """The index's definition as CREATE INDEX CONCURRENTLY (plain CREATE INDEX, on every
    partition, for a partitioned index); "" when the definition was not collected."""
    definition = row.indexdef
    if not definition:
        return ""
    unique = "UNIQUE " if row.is_unique else ""
    head = re.match(rf"CREATE {unique}INDEX ", definition)
    if head is None:
        return ""
    rest = definition[head.end() :]
    if row.partitioned:
        # pg_get_indexdef() writes ON ONLY for a partitioned index; without ONLY the index
        # is built on every partition, as it was. The name as the server quoted it: its
        # list of keywords to quote differs from one version to the next.
        quoted = '"' + row.indexrelname.replace('"', '""') + '"'
        for name in {quote_ident(row.indexrelname), row.indexrelname, quoted}:
            only = f"{name} ON ONLY "
            if rest.startswith(only):
                rest = f"{name} ON {rest[len(only) :]}"
                break
        return f"{_PARTITIONED_CREATE}CREATE {unique}INDEX {rest};"
    return f"CREATE {unique}INDEX CONCURRENTLY {rest};"


def by_database(rows: Iterable[Row]) -> dict[str, list[Row]]:
    grouped: dict[str, list[Row]] = defaultdict(list)
    for row in rows:
        grouped[row.datname].append(row)
    return grouped


def descendants(row: Row, children: dict[int, list[Row]]) -> Iterator[Row]:
    """The index itself and, for a partitioned index, every index partition below it."""
    yield row
    for child in children.get(row.indexrelid, ()):
        yield from descendants(child, children)


def children_of(rows: Iterable[Row]) -> dict[int, list[Row]]:
    children: dict[int, list[Row]] = defaultdict(list)
    for row in rows:
        if row.parent_indexrelid is not None:
            children[row.parent_indexrelid].append(row)
    return children


def total_size(row: Row, children: dict[int, list[Row]]) -> float:
    return float(sum(r.size_bytes for r in descendants(row, children)))


def pretty_size(nbytes: float) -> str:
    if nbytes < MIB:
        return f"{nbytes / 1024:.0f} kB"
    if nbytes < 1024 * MIB:
        return f"{nbytes / MIB:.1f} MB"
    return f"{nbytes / 1024 / MIB:.1f} GB"


def age(seconds: float) -> str:
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * DAY:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / DAY:.1f} days"


# -- unused_index -----------------------------------------------------------------------


def _scans_by_node(cluster: Cluster) -> dict[str, dict[Key, float]]:
    return {
        node.target: {(r.datname, r.indexrelid): float(r.idx_scan) for r in node.get(CATALOG)}
        for node in cluster.nodes
    }


def _stats_windows(cluster: Cluster) -> dict[tuple[str, str], tuple[float, str]]:
    """(target, datname) -> (seconds statistics have been collecting, since what)."""
    windows: dict[tuple[str, str], tuple[float, str]] = {}
    for node in cluster.nodes:
        for row in node.get(WINDOW):
            since = max(0.0, float(row.collected_at) - float(row.stats_since))
            windows[(node.target, row.datname)] = (since, row.stats_since_source)
    return windows


def unused_indexes(cluster: Cluster, thresholds: Thresholds) -> Iterator[Finding]:
    primary = cluster.primary
    if primary is None:  # scans on standbys alone say nothing about the primary's queries
        return
    min_size = thresholds["min_size_bytes"]
    min_age = thresholds["min_stats_age_seconds"]
    scans = _scans_by_node(cluster)
    windows = _stats_windows(cluster)
    for datname, rows in by_database(primary.get(CATALOG)).items():
        children = children_of(rows)
        checked = [n for n in cluster.standbys if (n.target, datname) in windows]
        nodes = [primary, *checked]
        for row in rows:
            if (
                attached(row)
                or must_keep(row)
                or row.is_unique  # it enforces uniqueness, scanned or not
                or not row.is_valid
                or row.building
            ):
                continue
            leaves = [r for r in descendants(row, children) if not r.partitioned]
            total = sum(
                scans[n.target].get((datname, r.indexrelid), 0.0) for n in nodes for r in leaves
            )
            size = total_size(row, children)
            if total > 0 or size < min_size:
                continue
            window = min(windows[(n.target, datname)][0] for n in nodes)
            since = windows[(primary.target, datname)][1]
            yield _unused_finding(
                row, primary, checked, size, window, since, min_size, min_age, len(leaves)
            )


def _unused_finding(
    row: Row,
    primary: Node,
    checked: Sequence[Node],
    size: float,
    window: float,
    since: str,
    min_size: float,
    min_age: float,
    leaves: int,
) -> Finding:
    where = " or ".join(n.target for n in (primary, *checked))
    if checked:
        replicas = ", ".join(n.target for n in checked)
    else:
        replicas = "not checked: no standby of this primary is among the targets"
    evidence: dict[str, Any] = {
        "idx_scan": 0,
        "size_bytes": size,
        "min_size_bytes": min_size,
        "stats_collecting_seconds": round(window),
        "stats_since": since,
        "min_stats_age_seconds": min_age,
        "replicas": replicas,
    }
    if row.partitioned:
        evidence["index_partitions"] = leaves
    young = window < min_age
    message = (
        f"Index {index_name(row)} on {table_name(row)} ({pretty_size(size)}) has not been "
        f"scanned on {where} in the {age(window)} statistics have been collecting"
    )
    if young:
        message += f", less than {age(min_age)}: too early to be sure"
    if not checked:
        message += "; standbys were not checked"
    return Finding(
        check="unused_index",
        severity=Severity.INFO if young else Severity.WARNING,
        target=primary.target,
        datname=row.datname,
        object=index_name(row),
        message=message + ".",
        evidence=evidence,
        remediation=drop_sql(row),
        rollback=create_sql(row),
    )


# -- duplicate_index and redundant_index ------------------------------------------------


def _comparable(row: Row) -> bool:
    return bool(row.is_valid) and not row.building and texts_known(row)


def signature(row: Row) -> tuple[Any, ...]:
    """What makes two indexes on one table the same index (uniqueness aside)."""
    return (
        row.indrelid,
        row.amname,
        row.nkey,
        tuple(row.key),
        tuple(row.opclasses),
        tuple(row.collations),
        tuple(row.options),
        row.exprs,
        row.pred,
    )


def preference(row: Row) -> tuple[Any, ...]:
    """Sort key of which index of a set to keep: constraint-backed, attached, unique, older."""
    return (
        not must_keep(row),
        not attached(row),
        not row.is_unique,
        not row.nulls_not_distinct,
        row.indexrelid,
    )


def _enforces_more(row: Row, kept: Row) -> bool:
    """Whether dropping `row` would lose a uniqueness rule that `kept` does not enforce."""
    if not row.is_unique:
        return False
    return not kept.is_unique or bool(row.nulls_not_distinct and not kept.nulls_not_distinct)


def duplicate_indexes(cluster: Cluster, thresholds: Thresholds) -> Iterator[Finding]:
    node = cluster.reference
    if node is None:
        return
    min_size = thresholds["min_size_bytes"]
    for rows in by_database(node.get(CATALOG)).values():
        children = children_of(rows)
        groups: dict[tuple[Any, ...], list[Row]] = defaultdict(list)
        for row in rows:
            if _comparable(row):
                groups[signature(row)].append(row)
        for members in groups.values():
            if len(members) < 2:
                continue
            kept, *others = sorted(members, key=preference)
            for row in others:
                if attached(row) or _enforces_more(row, kept):
                    continue
                size = total_size(row, children)
                if size >= min_size:
                    yield _duplicate_finding(node, row, kept, size, min_size)


def _duplicate_finding(node: Node, row: Row, kept: Row, size: float, min_size: float) -> Finding:
    evidence: dict[str, Any] = {
        "duplicate_of": index_name(kept),
        "size_bytes": size,
        "idx_scan": float(row.idx_scan),
        "duplicate_of_idx_scan": float(kept.idx_scan),
        "min_size_bytes": min_size,
    }
    message = (
        f"Index {index_name(row)} on {table_name(row)} ({pretty_size(size)}) has the same "
        f"columns, operator classes, collations, options, expressions and predicate as "
        f"{index_name(kept)}"
    )
    if kept.constraint_name:
        evidence["duplicate_of_constraint"] = kept.constraint_name
        message += f", which backs constraint {quote_ident(kept.constraint_name)}"
    if must_keep(row):
        # Both back constraints (or are depended on): dropping either changes the schema.
        evidence["constraint"] = row.constraint_name or ""
        return Finding(
            check="duplicate_index",
            severity=Severity.WARNING,
            target=node.target,
            datname=row.datname,
            object=index_name(row),
            message=message + "; both back constraints or are needed by a foreign key or the "
            "replica identity, so one constraint is superfluous: review it, no index is "
            "dropped here.",
            evidence=evidence,
        )
    return Finding(
        check="duplicate_index",
        severity=Severity.WARNING,
        target=node.target,
        datname=row.datname,
        object=index_name(row),
        message=message + ": it doubles the write cost for nothing.",
        evidence=evidence,
        remediation=drop_sql(row),
        rollback=create_sql(row),
    )


def covers(wider: Row, row: Row) -> bool:
    """Whether `wider` answers every query `row` answers: `row`'s key columns are a leading
    prefix of `wider`'s (same operator classes, collations and sort options there), its
    INCLUDE columns are among `wider`'s columns, and it enforces no uniqueness that `wider`
    does not. Both must be valid btree indexes of one table with the same predicate."""
    if (
        wider.indexrelid == row.indexrelid
        or wider.indrelid != row.indrelid
        or wider.amname != "btree"
        or row.amname != "btree"
        or wider.pred != row.pred
    ):
        return False
    n = row.nkey
    keys = list(row.key[:n])
    if n > wider.nkey or list(wider.key[:n]) != keys:
        return False
    if 0 in keys and wider.exprs != row.exprs:  # expression columns must be the same ones
        return False
    for column in ("opclasses", "collations", "options"):
        if list(getattr(wider, column)[:n]) != list(getattr(row, column)[:n]):
            return False
    if not set(row.key[n:]) <= set(wider.key):
        return False
    if row.is_unique:
        # Unique on (a) is stronger than unique on (a, b): only the same key will do.
        return bool(
            wider.is_unique
            and wider.nkey == n
            and bool(wider.nulls_not_distinct) == bool(row.nulls_not_distinct)
        )
    return True


def redundant_indexes(cluster: Cluster, thresholds: Thresholds) -> Iterator[Finding]:
    node = cluster.reference
    if node is None:
        return
    min_size = thresholds["min_size_bytes"]
    for rows in by_database(node.get(CATALOG)).values():
        children = children_of(rows)
        tables: dict[int, list[Row]] = defaultdict(list)
        for row in rows:
            if _comparable(row):
                tables[row.indrelid].append(row)
        for indexes in tables.values():
            for row in indexes:
                if must_keep(row) or attached(row) or _duplicated(row, indexes):
                    continue
                wider = _covering(row, indexes)
                if wider is None:
                    continue
                size = total_size(row, children)
                if size >= min_size:
                    yield _redundant_finding(node, row, wider, size, min_size)


def _duplicated(row: Row, indexes: Sequence[Row]) -> bool:
    """Whether duplicate_index already proposes dropping `row` in favour of its twin."""
    return any(
        signature(other) == signature(row)
        and preference(other) < preference(row)
        and not _enforces_more(row, other)
        for other in indexes
    )


def _covering(row: Row, indexes: Sequence[Row]) -> Row | None:
    """The index that makes `row` redundant, the most worth keeping first; None if none.

    Identical indexes are duplicate_index's; of two that cover each other (same keys,
    INCLUDE columns in another order) only the less worth keeping is reported.
    """
    candidates = [
        other
        for other in indexes
        if covers(other, row)
        and signature(other) != signature(row)
        and not (covers(row, other) and preference(row) < preference(other))
    ]
    return min(candidates, key=preference, default=None)


def _redundant_finding(node: Node, row: Row, wider: Row, size: float, min_size: float) -> Finding:
    return Finding(
        check="redundant_index",
        severity=Severity.INFO,
        target=node.target,
        datname=row.datname,
        object=index_name(row),
        message=f"Index {index_name(row)} on {table_name(row)} ({pretty_size(size)}) is a "
        f"leading prefix of {index_name(wider)}, which can serve the same queries.",
        evidence={
            "covered_by": index_name(wider),
            "size_bytes": size,
            "idx_scan": float(row.idx_scan),
            "covered_by_idx_scan": float(wider.idx_scan),
            "key_columns": row.nkey,
            "covered_by_key_columns": wider.nkey,
            "min_size_bytes": min_size,
        },
        remediation=drop_sql(row),
        rollback=create_sql(row),
    )


# -- invalid_index ----------------------------------------------------------------------


def invalid_indexes(cluster: Cluster, thresholds: Thresholds) -> Iterator[Finding]:
    node = cluster.reference
    if node is None:
        return
    for rows in by_database(node.get(CATALOG)).values():
        valid = {signature(r): r for r in rows if _comparable(r)}
        for row in rows:
            if row.is_valid or row.building:
                continue
            twin = valid.get(signature(row)) if texts_known(row) else None
            if twin is not None and _enforces_more(row, twin):
                twin = None  # a failed unique index is not replaced by a plain one
            yield _invalid_finding(node, row, twin)


def _invalid_finding(node: Node, row: Row, twin: Row | None) -> Finding:
    name = index_name(row)
    evidence: dict[str, Any] = {"size_bytes": float(row.size_bytes), "partitioned": row.partitioned}
    if row.partitioned:
        message = (
            f"Partitioned index {name} on {table_name(row)} is invalid: a partition has no "
            "index attached to it, so queries on the parent cannot use it."
        )
        remediation = (
            f"-- Create the missing index on each partition (CREATE INDEX CONCURRENTLY), then "
            f"ALTER INDEX {name} ATTACH PARTITION <that index>; {name} becomes valid once every "
            "partition has one."
        )
        return _invalid(node, row, evidence, message, remediation)
    message = (
        f"Index {name} on {table_name(row)} is invalid (a failed CREATE INDEX CONCURRENTLY or "
        "REINDEX CONCURRENTLY): queries never use it, yet every write still updates it"
    )
    if twin is not None:
        evidence["valid_twin"] = index_name(twin)
        message += f"; {index_name(twin)} is the same index, valid, so dropping it is enough."
        return _invalid(node, row, evidence, message, f"DROP INDEX CONCURRENTLY {name};")
    recreate = create_sql(row)
    if row.is_unique:
        message += "; rebuilding a unique index fails again while duplicate keys remain."
    else:
        message += "."
    remediation = f"DROP INDEX CONCURRENTLY {name};"
    if recreate:
        remediation += "\n" + recreate
    return _invalid(node, row, evidence, message, remediation)


def _invalid(
    node: Node, row: Row, evidence: dict[str, Any], message: str, remediation: str
) -> Finding:
    # No rollback: an invalid index serves no query, so nothing is lost by dropping it.
    return Finding(
        check="invalid_index",
        severity=Severity.WARNING,
        target=node.target,
        datname=row.datname,
        object=index_name(row),
        message=message,
        evidence=evidence,
        remediation=remediation,
    )


# -- missing_fk_index -------------------------------------------------------------------


def supports(index: Row, columns: Sequence[int]) -> bool:
    """Whether lookups on all `columns` (equality, any order) can use this index: a btree
    whose leading key columns are exactly those columns, or a hash index on the one column.
    Partial indexes do not count: the foreign key's lookups are not limited to their rows."""
    if index.has_pred or not (index.is_valid or index.building):
        return False
    keys = list(index.key[: index.nkey])
    if index.amname == "btree":
        return len(keys) >= len(columns) and sorted(keys[: len(columns)]) == sorted(columns)
    if index.amname == "hash":
        return keys == list(columns)
    return False


def new_index_name(fkey: Row, taken: set[str]) -> str:
    """The name Postgres gives `CREATE INDEX ON <table> (<columns>)`: <table>_<columns>_idx,
    then idx1, idx2, ... while that is taken in the schema. Tables, indexes and sequences
    share one namespace, so `taken` holds every relation name known there."""
    columns = "_".join(fkey.column_names)
    for attempt in range(1000):
        label = f"idx{attempt}" if attempt else "idx"
        name = _object_name(fkey.relname, columns, label)
        if name not in taken:
            return name
    return _object_name(fkey.relname, columns, "idx")  # let CREATE INDEX say it is taken


def _object_name(first: str, second: str, label: str) -> str:
    """first_second_label within NAMEDATALEN - 1 bytes, as Postgres's makeObjectName() makes
    it: the longer part is shortened first, and a part is cut between letters, never inside
    one. Cutting the whole name instead could give a table's own name back, and the CREATE
    INDEX would fail."""
    one, two = first.encode(), second.encode()
    room = NAMEDATALEN - 1 - len(label.encode()) - 2
    keep_one, keep_two = len(one), len(two)
    while keep_one + keep_two > room:
        if keep_one > keep_two:
            keep_one -= 1
        else:
            keep_two -= 1
    return f"{_cut(one, keep_one)}_{_cut(two, keep_two)}_{label}"


def _cut(encoded: bytes, size: int) -> str:
    """The first `size` bytes of a UTF-8 name, less a letter cut in two at the end."""
    return encoded[:size].decode(errors="ignore")


def _relation_names(
    indexes: Iterable[Row], fkeys: Iterable[Row]
) -> dict[tuple[str, str], set[str]]:
    """Every relation name the rows show, by database and schema."""
    names: dict[tuple[str, str], set[str]] = defaultdict(set)
    for row in indexes:
        names[(row.datname, row.schemaname)].update((row.relname, row.indexrelname))
    for fkey in fkeys:
        names[(fkey.datname, fkey.schemaname)].add(fkey.relname)
        names[(fkey.datname, fkey.ref_schemaname)].add(fkey.ref_relname)
    return names


def missing_fk_indexes(cluster: Cluster, thresholds: Thresholds) -> Iterator[Finding]:
    node = cluster.reference
    if node is None:
        return
    min_size = thresholds["min_table_size_bytes"]
    indexes = by_database(node.get(CATALOG))
    taken = _relation_names(node.get(CATALOG), node.get(FKEYS))
    for fkey in node.get(FKEYS):
        if fkey.table_bytes < min_size:
            continue
        rows = indexes.get(fkey.datname, [])
        if any(r.indrelid == fkey.conrelid and supports(r, fkey.key) for r in rows):
            continue
        schema = taken[(fkey.datname, fkey.schemaname)]
        name = new_index_name(fkey, schema)
        schema.add(name)  # two foreign keys of a table must not be offered one name
        yield _missing_fk_finding(node, fkey, name, min_size)


def _missing_fk_finding(node: Node, fkey: Row, name: str, min_size: float) -> Finding:
    table = qualified(fkey.schemaname, fkey.relname)
    columns = ", ".join(quote_ident(c) for c in fkey.column_names)
    referenced = qualified(fkey.ref_schemaname, fkey.ref_relname)
    if fkey.partitioned:
        create = f"{_PARTITIONED_CREATE}CREATE INDEX {quote_ident(name)} ON {table} ({columns});"
        drop = f"DROP INDEX {qualified(fkey.schemaname, name)};"
    else:
        create = f"CREATE INDEX CONCURRENTLY {quote_ident(name)} ON {table} ({columns});"
        drop = f"DROP INDEX CONCURRENTLY {qualified(fkey.schemaname, name)};"
    return Finding(
        check="missing_fk_index",
        severity=Severity.WARNING,
        target=node.target,
        datname=fkey.datname,
        object=f"{table}.{quote_ident(fkey.conname)}",
        message=f"Foreign key {quote_ident(fkey.conname)} of {table} ({columns}) has no index "
        f"starting with its columns: every DELETE or key UPDATE on {referenced} scans "
        f"{table} ({pretty_size(fkey.table_bytes)}) for referencing rows.",
        evidence={
            "constraint": fkey.conname,
            "columns": ", ".join(fkey.column_names),
            "references": referenced,
            "table_bytes": float(fkey.table_bytes),
            "min_table_size_bytes": min_size,
        },
        remediation=create,
        rollback=drop,
    )


CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        id="unused_index",
        summary="An index never scanned on the primary nor on any of its standbys among the "
        "targets since statistics began.",
        why="Every write to the table updates it and it takes disk and cache space, for no query.",
        avoids="Counts scans on every node (standby statistics are their own) and says when "
        "standbys were not checked; skips constraint, unique, replica identity and "
        "foreign-key-referenced indexes, invalid ones and small ones; judges a partitioned "
        "index by all its partitions; is only info while statistics are younger than "
        "min_stats_age_seconds (since the database's stats reset, else the server start).",
        fix="DROP INDEX CONCURRENTLY (plain DROP INDEX for a partitioned index); the rollback "
        "is its CREATE INDEX CONCURRENTLY from pg_get_indexdef.",
        thresholds=(
            Threshold("min_size_bytes", 1.0 * MIB, "Smaller indexes are not reported."),
            Threshold(
                "min_stats_age_seconds",
                7 * DAY,
                "Statistics younger than this make the finding info rather than warning.",
            ),
        ),
        evaluate=unused_indexes,
        needs=(CATALOG, WINDOW),
    ),
    CheckSpec(
        id="duplicate_index",
        summary="Two valid indexes of a table with the same columns, operator classes, "
        "collations, sort options, method, expressions and predicate.",
        why="The second one doubles the write and storage cost and serves no other query.",
        avoids="Compares pg_index's arrays element by element, not definitions as text; a "
        "partial and a full index differ; never proposes dropping an index that backs a "
        "constraint, the replica identity or a foreign key, nor a unique one that enforces "
        "more than the one kept.",
        fix="DROP INDEX CONCURRENTLY of the one not backing a constraint; the rollback is its "
        "CREATE INDEX CONCURRENTLY.",
        thresholds=(Threshold("min_size_bytes", 0.0, "Smaller duplicates are not reported."),),
        evaluate=duplicate_indexes,
        needs=(CATALOG,),
    ),
    CheckSpec(
        id="redundant_index",
        summary="A btree index whose key columns are a leading prefix of another valid btree "
        "index of the same table (same predicate, expressions, operator classes, collations "
        "and sort options on those columns).",
        why="The wider index serves the same lookups, so the narrower one mostly adds write "
        "cost; info only, as a narrower index is sometimes kept on purpose for speed.",
        avoids="INCLUDE columns are not key columns; a unique index is not redundant to a "
        "wider one (it enforces uniqueness); column 1 is not a prefix of column 12 (arrays, "
        "not text); constraint-backed indexes are never proposed for dropping.",
        fix="DROP INDEX CONCURRENTLY of the narrower index; the rollback is its CREATE INDEX "
        "CONCURRENTLY.",
        thresholds=(Threshold("min_size_bytes", 0.0, "Smaller indexes are not reported."),),
        evaluate=redundant_indexes,
        needs=(CATALOG,),
    ),
    CheckSpec(
        id="invalid_index",
        summary="An index left invalid, usually by a failed CREATE INDEX CONCURRENTLY or "
        "REINDEX CONCURRENTLY, or a partitioned index missing on a partition.",
        why="Queries never use it, yet writes still maintain it; a unique one still rejects rows.",
        avoids="Indexes being built right now (pg_stat_progress_create_index) are skipped.",
        fix="DROP INDEX CONCURRENTLY, then CREATE INDEX CONCURRENTLY from its definition (only "
        "the drop when a valid identical index exists); nothing to roll back, since the "
        "invalid index served no query.",
        thresholds=(),
        evaluate=invalid_indexes,
        needs=(CATALOG,),
    ),
    CheckSpec(
        id="missing_fk_index",
        summary="A foreign key whose columns (in any order) do not lead any valid, non-partial "
        "btree index of the referencing table (or a hash index on its one column); the object "
        "is the table and the constraint name.",
        why="Deleting or updating a referenced key then scans the whole referencing table, "
        "holding locks meanwhile.",
        avoids="Small referencing tables (min_table_size_bytes, from relpages) and the copies "
        "of a partitioned table's foreign key on its partitions; partial indexes do not count.",
        fix="CREATE INDEX CONCURRENTLY on the foreign key's columns (plain CREATE INDEX on a "
        "partitioned table); the rollback drops it.",
        thresholds=(
            Threshold(
                "min_table_size_bytes",
                10.0 * MIB,
                "Referencing tables smaller than this (10 MiB, about 1,300 pages of 8 kB, read "
                "for every referenced row deleted) are not reported.",
            ),
        ),
        evaluate=missing_fk_indexes,
        needs=(CATALOG, FKEYS),
    ),
)
