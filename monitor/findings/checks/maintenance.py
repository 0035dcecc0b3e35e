"""Maintenance: sequences running out, transaction ID and multixact wraparound, vacuum.

Reads the rows kept by the `sequences`, `vacuum` and `database` collectors. Sequences and
wraparound ages are the same on a standby as on its primary, so they are judged once per
cluster, on the primary when it is among the targets; dead tuples and vacuum times are
statistics of the primary only (a standby's are not replicated), so they need the primary.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from monitor.findings.checks._format import duration
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

# The range of each integer type a sequence can feed (other column types bound nothing).
INTEGER_RANGES = {
    "smallint": (-(2**15), 2**15 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "bigint": (-(2**63), 2**63 - 1),
}
# Transaction IDs and multixact IDs are 32-bit counters compared modulo 2^32: an ID older
# than 2^31 would look like the future. The server refuses new IDs about 3 million before.
WRAPAROUND_LIMIT = 2**31 - 1
STOP_MARGIN = 3_000_000
OLDEST_SHOWN = 3  # tables named in a wraparound finding


# -- sequence_exhaustion ---------------------------------------------------------------


def _column_name(row: Row) -> str:
    return f"{qualified(row.table_schema, row.table_name)}.{quote_ident(row.column_name)}"


def _column_binds(row: Row) -> bool:
    """Whether the column's type, not the sequence's own limit, ends the range."""
    bounds = INTEGER_RANGES.get(row.column_type or "")
    if bounds is None:
        return False
    if row.increment_by > 0:
        return bool(bounds[1] <= row.max_value)
    return bool(bounds[0] >= row.min_value)


def _sequence_fix(row: Row, column_binds: bool) -> tuple[str, str, str]:
    """Remediation, rollback, and why there is none when there is none."""
    ascending = row.increment_by > 0
    sequence = qualified(row.schemaname, row.sequencename)
    do: list[str] = []
    undo: list[str] = []
    target_type = "bigint"
    if column_binds:
        if row.column_type == "bigint":
            return "", "", "the column is bigint already: there is no wider integer type"
        table = qualified(row.table_schema, row.table_name)
        column = quote_ident(row.column_name)
        do.append(
            f"-- rewrites {table} and rebuilds its indexes under an ACCESS EXCLUSIVE lock "
            "(reads and writes wait): plan a maintenance window or an online migration\n"
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE bigint;"
        )
        undo.append(
            f"-- rewrites the table again, and fails once a value no longer fits\n"
            f"ALTER TABLE {table} ALTER COLUMN {column} TYPE {row.column_type};"
        )
    elif row.column_type in INTEGER_RANGES:
        target_type = row.column_type  # never let the sequence outgrow its column
    new_limit = INTEGER_RANGES[target_type][1 if ascending else 0]
    own_limit = row.max_value if ascending else row.min_value
    # An identity column's sequence follows ALTER COLUMN ... TYPE by itself.
    if own_limit != new_limit and not (column_binds and row.deptype == "i"):
        bound = "MAXVALUE" if ascending else "MINVALUE"
        do.append(f"ALTER SEQUENCE {sequence} AS {target_type} NO {bound};")
        undo.insert(0, f"ALTER SEQUENCE {sequence} AS {row.sequence_type} {bound} {own_limit};")
    if not do:
        return "", "", "the sequence already spans its type; cycle or widen the type by hand"
    return "\n".join(do), "\n".join(undo), ""


def _exhaustion(node: Node, row: Row, thresholds: Thresholds) -> Finding | None:
    used = row.used_fraction
    if used is None or used <= thresholds["warning_fraction"]:
        return None
    column_binds = _column_binds(row)
    if row.cycle and not column_binds:
        return None  # a cycling sequence starts over at its own limit, by design
    ascending = row.increment_by > 0
    limit = row.upper_bound if ascending else row.lower_bound
    sequence = qualified(row.schemaname, row.sequencename)
    if column_binds:
        bound = f"the {row.column_type} limit of column {_column_name(row)}"
    else:
        bound = "its own " + ("MAXVALUE" if ascending else "MINVALUE")
    remediation, rollback, no_fix = _sequence_fix(row, column_binds)
    evidence: dict[str, Any] = {
        "last_value": row.last_value,
        "limit": limit,
        "limited_by": "column" if column_binds else "sequence",
        "used_fraction": round(used, 4),
        "values_left": abs(limit - row.last_value) // abs(row.increment_by),
        "sequence_type": row.sequence_type,
        "increment_by": row.increment_by,
        "cycle": row.cycle,
        "warning_fraction": thresholds["warning_fraction"],
        "critical_fraction": thresholds["critical_fraction"],
    }
    if row.column_name is not None:
        evidence["column"] = _column_name(row)
        evidence["column_type"] = row.column_type
    if no_fix:
        evidence["no_remediation"] = no_fix
    return Finding(
        check="sequence_exhaustion",
        severity=Severity.CRITICAL if used > thresholds["critical_fraction"] else Severity.WARNING,
        target=node.target,
        datname=row.datname,
        object=sequence,
        message=f"Sequence {sequence} has used {used:.0%} of its range: last value "
        f"{row.last_value}, limit {limit} ({bound}).",
        evidence=evidence,
        remediation=remediation,
        rollback=rollback,
    )


def _not_evaluated(node: Node, row: Row) -> Finding:
    role = quote_ident(row.monitor_role)
    schemas = list(row.schemas or ())
    grants = [
        f"GRANT SELECT ON ALL SEQUENCES IN SCHEMA {quote_ident(s)} TO {role};" for s in schemas
    ]
    revokes = [
        f"REVOKE SELECT ON ALL SEQUENCES IN SCHEMA {quote_ident(s)} FROM {role};" for s in schemas
    ]
    return Finding(
        check="sequence_exhaustion",
        severity=Severity.INFO,
        target=node.target,
        datname=row.datname,
        object=quote_ident(row.datname),
        message=f"not evaluated: no privilege to read {row.unreadable} sequence(s) of database "
        f"{row.datname} (grant SELECT on them, or pg_read_all_data, to {role}).",
        evidence={
            "unreadable_sequences": row.unreadable,
            "schemas": schemas,
            "monitor_role": row.monitor_role,
            "alternative": f"GRANT pg_read_all_data TO {role};  -- PG14+, reads all tables too",
        },
        remediation="\n".join(grants),
        rollback="-- also revokes SELECT that was granted on these sequences before\n"
        + "\n".join(revokes),
    )


def sequence_exhaustion(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    node = cluster.reference
    if node is None:
        return
    for row in node.get("sequences"):
        found = _exhaustion(node, row, thresholds)
        if found is not None:
            yield found
    for row in node.get("sequences_unreadable"):
        if row.unreadable:
            yield _not_evaluated(node, row)


# -- xid_wraparound, multixact_wraparound ----------------------------------------------


def _freeze_statements(tables: Sequence[Row], datname: str) -> str:
    if not tables:
        return (
            f"-- in database {quote_ident(datname)}: the whole database\nVACUUM (FREEZE, VERBOSE);"
        )
    lines = []
    for table in tables:
        name = qualified(table.schemaname, table.relname)
        if table.temporary:
            lines.append(f"-- {name} is another session's temporary table: end that session")
        else:
            lines.append(f"VACUUM (FREEZE, VERBOSE) {name};")
    return "\n".join(lines)


def _wraparound(
    check: str,
    what: str,
    cluster: Cluster,
    thresholds: Thresholds,
    age_column: str,
    table_age_column: str,
    setting: str,
) -> Iterable[Finding]:
    node = cluster.reference
    if node is None:
        return
    settings = node.get("database_settings")
    freeze_max_age = float(getattr(settings[0], setting)) if settings else None
    for row in node.get("database_catalog"):
        age = getattr(row, age_column)
        if age is None:
            continue
        if age > thresholds["critical_fraction"] * WRAPAROUND_LIMIT:
            severity = Severity.CRITICAL
        elif age > thresholds["warning_fraction"] * WRAPAROUND_LIMIT:
            severity = Severity.WARNING
        elif freeze_max_age is not None and age > thresholds["info_freeze_max_age_factor"] * (
            freeze_max_age
        ):
            severity = Severity.INFO
        else:
            continue
        tables = sorted(
            (t for t in node.get("vacuum_freeze") if t.datname == row.datname),
            key=lambda t: -getattr(t, table_age_column),
        )[:OLDEST_SHOWN]
        evidence: dict[str, Any] = {
            "database_age": age,
            "wraparound_limit": WRAPAROUND_LIMIT,
            "percent_of_limit": round(100.0 * age / WRAPAROUND_LIMIT, 2),
            "left_before_stop": WRAPAROUND_LIMIT - STOP_MARGIN - age,
            "freeze_max_age": freeze_max_age,
            "warning_fraction": thresholds["warning_fraction"],
            "critical_fraction": thresholds["critical_fraction"],
            "oldest_tables": {
                qualified(t.schemaname, t.relname): getattr(t, table_age_column) for t in tables
            },
        }
        database = quote_ident(row.datname)
        message = (
            f"Database {database} is {age} {what} old, {age / WRAPAROUND_LIMIT:.1%} of the way "
            "to wraparound"
        )
        if tables:
            oldest = tables[0]
            message += (
                f"; oldest table {qualified(oldest.schemaname, oldest.relname)} "
                f"({getattr(oldest, table_age_column)})"
            )
        if severity is Severity.INFO:
            message += "; past the freeze max age, so autovacuum should be freezing it now"
        yield Finding(
            check=check,
            severity=severity,
            target=node.target,
            datname=row.datname,
            object=database,
            message=message + ".",
            evidence=evidence,
            remediation=_freeze_statements(tables, row.datname),
            rollback="",
        )


def xid_wraparound(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    return _wraparound(
        "xid_wraparound",
        "transactions",
        cluster,
        thresholds,
        "frozen_xid_age",
        "xid_age",
        "autovacuum_freeze_max_age",
    )


def multixact_wraparound(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    return _wraparound(
        "multixact_wraparound",
        "multixacts",
        cluster,
        thresholds,
        "min_mxid_age",
        "mxid_age",
        "autovacuum_multixact_freeze_max_age",
    )


# -- dead_tuples, vacuum_stale ---------------------------------------------------------


def _vacuumed(row: Row) -> str:
    if not row.autovacuum_enabled:
        return "autovacuum is disabled on it"
    if row.last_vacuumed is None:
        return (
            f"it has not been vacuumed since statistics began "
            f"{duration(row.now - row.stats_since)} ago"
        )
    return f"last vacuumed {duration(row.now - row.last_vacuumed)} ago"


def _vacuum_evidence(row: Row) -> dict[str, Any]:
    return {
        "n_live_tup": row.n_live_tup,
        "n_dead_tup": row.n_dead_tup,
        "n_ins_since_vacuum": row.n_ins_since_vacuum,
        "last_vacuum_age_seconds": None
        if row.last_vacuumed is None
        else round(row.now - row.last_vacuumed),
        "statistics_age_seconds": round(row.now - row.stats_since),
        "autovacuum_enabled": row.autovacuum_enabled,
        "autovacuum_vacuum_threshold": row.vacuum_threshold,
        "autovacuum_vacuum_scale_factor": row.vacuum_scale_factor,
    }


def _vacuum_command(table: str) -> str:
    return f"VACUUM (VERBOSE, ANALYZE) {table};"


def _allowed_dead(row: Row, fraction: float) -> float:
    """Never below the table's own autovacuum trigger: under it, waiting is by design."""
    return float(row.vacuum_threshold + max(fraction, row.vacuum_scale_factor) * row.n_live_tup)


def dead_tuples(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    node = cluster.primary
    if node is None:
        return
    for row in node.get("vacuum"):
        live, dead = row.n_live_tup, row.n_dead_tup
        if dead < thresholds["min_dead_tuples"]:
            continue

        if dead <= _allowed_dead(row, thresholds["warning_fraction"]):
            continue
        critical = dead > _allowed_dead(row, thresholds["critical_fraction"])
        table = qualified(row.schemaname, row.relname)
        yield Finding(
            check="dead_tuples",
            severity=Severity.CRITICAL if critical else Severity.WARNING,
            target=node.target,
            datname=row.datname,
            object=table,
            message=f"Table {table} has {dead} dead rows for {live} live ones; {_vacuumed(row)}.",
            evidence={
                **_vacuum_evidence(row),
                "dead_per_live": round(dead / live, 3) if live else None,
                "min_dead_tuples": thresholds["min_dead_tuples"],
                "warning_fraction": thresholds["warning_fraction"],
                "critical_fraction": thresholds["critical_fraction"],
            },
            remediation=_vacuum_command(table),
            rollback="",
        )


def _autovacuum_disabled(node: Node, row: Row) -> Finding:
    table = qualified(row.schemaname, row.relname)
    return Finding(
        check="vacuum_stale",
        severity=Severity.WARNING,
        target=node.target,
        datname=row.datname,
        object=table,
        message=f"Autovacuum is disabled on table {table} (autovacuum_enabled = false): "
        "nothing removes its dead rows or freezes it until wraparound forces it.",
        evidence=_vacuum_evidence(row),
        remediation=f"ALTER TABLE {table} RESET (autovacuum_enabled);",
        rollback=f"ALTER TABLE {table} SET (autovacuum_enabled = false);",
    )


def vacuum_stale(cluster: Cluster, thresholds: Thresholds) -> Iterable[Finding]:
    node = cluster.primary
    if node is None:
        return
    rows = node.get("vacuum")
    if rows and not rows[0].autovacuum:
        yield Finding(
            check="vacuum_stale",
            severity=Severity.WARNING,
            target=node.target,
            datname="",
            object="",
            message="Autovacuum is off for the whole server (autovacuum = off): only "
            "anti-wraparound vacuums still run.",
            evidence={"autovacuum": False},
            remediation="ALTER SYSTEM SET autovacuum = on;\nSELECT pg_reload_conf();",
            rollback="ALTER SYSTEM SET autovacuum = off;\nSELECT pg_reload_conf();",
        )
    for row in rows:
        if not row.autovacuum_enabled:
            yield _autovacuum_disabled(node, row)
            continue
        changed = row.n_dead_tup + row.n_ins_since_vacuum
        due = changed > row.vacuum_threshold + row.vacuum_scale_factor * row.n_live_tup
        if not due or changed < thresholds["min_changed_rows"]:
            continue
        since = row.stats_since if row.last_vacuumed is None else row.last_vacuumed
        if row.now - since <= thresholds["max_age_seconds"]:
            continue
        table = qualified(row.schemaname, row.relname)
        yield Finding(
            check="vacuum_stale",
            severity=Severity.WARNING,
            target=node.target,
            datname=row.datname,
            object=table,
            message=f"Table {table} has {changed} rows changed since its last vacuum, past "
            f"autovacuum's trigger, and {_vacuumed(row)}.",
            evidence={
                **_vacuum_evidence(row),
                "changed_rows": changed,
                "max_age_seconds": thresholds["max_age_seconds"],
                "min_changed_rows": thresholds["min_changed_rows"],
            },
            remediation=_vacuum_command(table),
            rollback="",
        )


# -- the specs -------------------------------------------------------------------------

_WRAPAROUND_THRESHOLDS = (
    Threshold(
        "warning_fraction",
        0.5,
        "Warning when the database's age passes this fraction of the 2^31 wraparound limit.",
    ),
    Threshold("critical_fraction", 0.75, "Critical past this fraction of the limit."),
    Threshold(
        "info_freeze_max_age_factor",
        1.0,
        "Info when the age passes this multiple of the freeze max age setting (autovacuum "
        "should be running an anti-wraparound vacuum).",
    ),
)
_FREEZE_FIX = (
    "VACUUM (FREEZE, VERBOSE) of the oldest tables (the finding names them) freezes their "
    "rows and lets the database's age fall; it takes no lock that blocks reads or writes. "
    "It cannot freeze past the oldest snapshot still needed: end long transactions, commit "
    "or roll back forgotten prepared transactions, drop stale replication slots first. "
    "Nothing to roll back."
)

CHECKS: tuple[CheckSpec, ...] = (
    CheckSpec(
        id="sequence_exhaustion",
        summary="A sequence has used most of its range, the range ending at its own "
        "MAXVALUE (MINVALUE descending) or at the limit of the narrowest integer column it "
        "feeds (serial, identity, OWNED BY or a nextval() default).",
        why="When it runs out, every insert that needs a new value fails: nextval() raises an "
        "error, or the value no longer fits the column (an integer column fed by a bigint "
        "sequence fails at 2147483647).",
        avoids="Judges a bigint column fed by a sequence past 2^31 against bigint, not "
        "integer; skips cycling sequences limited by themselves; measures descending "
        "sequences towards their minimum. Sequences pgmon may not read (pg_monitor grants "
        "no access to their values) are reported as not evaluated, one info finding per "
        "database, never as healthy: GRANT SELECT ON ALL SEQUENCES IN SCHEMA ... TO the "
        "monitoring role (or pg_read_all_data, PG14+) enables the check.",
        fix="ALTER TABLE ... ALTER COLUMN ... TYPE bigint (rewrites the table under an ACCESS "
        "EXCLUSIVE lock) and/or ALTER SEQUENCE ... AS bigint; the rollback restores the old "
        "types and limits, which only works while the values still fit.",
        thresholds=(
            Threshold("warning_fraction", 0.75, "Warning when this fraction of the range is used."),
            Threshold("critical_fraction", 0.9, "Critical when this fraction is used."),
        ),
        evaluate=sequence_exhaustion,
        needs=("sequences", "sequences_unreadable"),
    ),
    CheckSpec(
        id="xid_wraparound",
        summary="A database's oldest unfrozen transaction ID (age(datfrozenxid)) is getting "
        "close to the 2^31 wraparound limit; the finding names its oldest tables.",
        why="About 3 million transactions before the limit the server stops assigning "
        "transaction IDs: no more writes until a long single-user or emergency VACUUM.",
        avoids="Stays quiet below autovacuum_freeze_max_age, where autovacuum has not been "
        "asked to freeze yet; ages past it give only an info finding, since autovacuum "
        "should be working on them; warnings start at half the hard limit.",
        fix=_FREEZE_FIX,
        thresholds=_WRAPAROUND_THRESHOLDS,
        evaluate=xid_wraparound,
        needs=("database_catalog", "database_settings", "vacuum_freeze"),
    ),
    CheckSpec(
        id="multixact_wraparound",
        summary="A database's oldest multixact ID (mxid_age(datminmxid)) is getting close to "
        "the 2^31 wraparound limit; the finding names its oldest tables.",
        why="Multixacts (row locks shared by several transactions, foreign keys) wrap like "
        "transaction IDs: near the limit the server refuses new ones and writes stop.",
        avoids="As xid_wraparound, against autovacuum_multixact_freeze_max_age; it does not "
        "measure the multixact member space, which can run out earlier.",
        fix=_FREEZE_FIX,
        thresholds=_WRAPAROUND_THRESHOLDS,
        evaluate=multixact_wraparound,
        needs=("database_catalog", "database_settings", "vacuum_freeze"),
    ),
    CheckSpec(
        id="dead_tuples",
        summary="A table holds many dead rows: more than the warning fraction of its live "
        "rows on top of its autovacuum threshold, and at least a minimum count.",
        why="Dead rows take space and are read by scans until vacuum removes them; piling up, "
        "they mean autovacuum is not keeping up, is disabled, or is blocked by an old "
        "snapshot (long transaction, prepared transaction, replication slot).",
        avoids="Never fires below the table's own autovacuum trigger (threshold + scale factor "
        "times live rows, its reloptions included): there waiting for autovacuum is normal; small "
        "tables are skipped by the minimum count. Primary only: a standby has no such "
        "statistics.",
        fix="VACUUM (VERBOSE, ANALYZE) on the table removes the dead rows (no lock that "
        "blocks reads or writes; VERBOSE tells if an old snapshot keeps them). Nothing to "
        "roll back.",
        thresholds=(
            Threshold(
                "min_dead_tuples", 10000.0, "Tables with fewer dead rows are never reported."
            ),
            Threshold(
                "warning_fraction",
                0.5,
                "Warning when dead rows exceed the autovacuum threshold plus this fraction of "
                "the live rows (or the table's scale factor, if larger).",
            ),
            Threshold("critical_fraction", 2.0, "Critical past this fraction of live rows."),
        ),
        evaluate=dead_tuples,
        needs=("vacuum",),
    ),
    CheckSpec(
        id="vacuum_stale",
        summary="A table past its autovacuum trigger has not been vacuumed for long, or has "
        "autovacuum disabled (autovacuum_enabled = false), or autovacuum is off server-wide.",
        why="Without vacuum, dead rows are never reused, the visibility map goes stale "
        "(index-only scans read the heap) and freezing is left to a forced, urgent vacuum.",
        avoids="Only tables whose changes since the last vacuum exceed autovacuum's own "
        "trigger and a minimum count; a never-vacuumed table's age is the age of the "
        "statistics, not a guess. Primary only.",
        fix="VACUUM (VERBOSE, ANALYZE) the table (nothing to roll back); for autovacuum "
        "disabled, ALTER TABLE ... RESET (autovacuum_enabled), rolled back with SET "
        "(autovacuum_enabled = false).",
        thresholds=(
            Threshold(
                "max_age_seconds",
                7 * 86400.0,
                "Report tables due for vacuum whose last vacuum is older than this.",
            ),
            Threshold(
                "min_changed_rows",
                1000.0,
                "Tables with fewer dead plus inserted rows since their last vacuum are never "
                "reported (autovacuum disabled always is).",
            ),
        ),
        evaluate=vacuum_stale,
        needs=("vacuum",),
    ),
)
