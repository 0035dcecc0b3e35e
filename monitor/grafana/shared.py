"""Panels that more than one dashboard shows, and the value mappings they share.

Each takes the label selector of the dashboard it goes on: a dashboard without a `datname`
variable must not query `$datname`.
"""

from __future__ import annotations

from monitor.grafana.panels import Column, Json, Query, mapping, table, timeseries
from monitor.grafana.promql import TARGET, by, rate, sel

ROLE = mapping({"0": ("primary", "blue"), "1": ("standby", "purple")})
SEVERITY = mapping(
    {"critical": ("critical", "red"), "warning": ("warning", "orange"), "info": ("info", "blue")}
)

# Findings about indexes, including the foreign key that lacks one (docs/findings.md).
INDEX_CHECKS = (
    "invalid_index",
    "duplicate_index",
    "redundant_index",
    "unused_index",
    "missing_fk_index",
    "index_bloat",
)
# The evidence key that says how big the finding's object is: the index, or for a foreign
# key without index, its table.
SIZE_KEYS = "size_bytes|table_bytes"


def check_matcher(checks: tuple[str, ...]) -> str:
    return f'check=~"{"|".join(checks)}"' if checks else 'check=~".+"'


def connections_used(size: tuple[int, int] = (8, 8)) -> Json:
    return timeseries(
        "Connections used",
        "Client sessions as a share of the connections ordinary roles may open "
        "(max_connections minus the superuser and pg_use_reserved_connections slots). "
        "At 100% applications get 'too many clients'; the connection_saturation finding "
        "warns at 80% by default.",
        Query(sel("pg_stat_activity_connections_used_ratio", TARGET), "{{target}}"),
        unit="percentunit",
        maximum=1,
        size=size,
    )


def transactions_per_second_expr() -> str:
    commits = rate("pg_stat_database_xact_commit", TARGET)
    rollbacks = rate("pg_stat_database_xact_rollback", TARGET)
    return by("sum", "target", f"{commits} + {rollbacks}")


def transactions_per_second(size: tuple[int, int] = (8, 8)) -> Json:
    return timeseries(
        "Transactions per second",
        "Commits plus rollbacks per second, all databases of each target. Standbys count "
        "their read-only transactions. A sudden drop with steady connections often means "
        "sessions are waiting (see Locks & connections).",
        Query(transactions_per_second_expr(), "{{target}}"),
        unit="ops",
        size=size,
    )


def cache_hit_ratio_expr() -> str:
    """1 - misses / accesses per target. With no block access at all in the window the
    ratio is undefined; the guard makes it 100% (nothing missed the cache), which is what
    the panel says, instead of 0% or a gap that looks like an outage."""
    reads = rate("pg_stat_database_blks_read", TARGET)
    hits = rate("pg_stat_database_blks_hit", TARGET)
    misses = by("sum", "target", reads)
    accesses = by("sum", "target", f"{reads} + {hits}")
    return f"1 - {misses} / clamp_min({accesses}, 1e-9)"


def cache_hit_ratio(size: tuple[int, int] = (8, 8)) -> Json:
    return timeseries(
        "Cache hit ratio",
        "Share of block accesses served from shared buffers rather than read from the "
        "operating system (which may still have them cached). Workloads that fit in memory "
        "stay near 100%; a fall means the working set outgrew shared_buffers or a large scan "
        "ran. A server that accessed no block in the window shows 100%: nothing missed.",
        Query(cache_hit_ratio_expr(), "{{target}}"),
        unit="percentunit",
        maximum=1,
        size=size,
    )


def standby_replay_delay(size: tuple[int, int] = (8, 8)) -> Json:
    return timeseries(
        "Standby replay delay",
        "Seen from each standby: how old its last replayed commit is while received WAL "
        "waits to be replayed, 0 when it has replayed everything it received (an idle "
        "primary is not lag). Primaries always show 0. Reads on a standby are this much "
        "behind the primary.",
        Query(sel("pg_replication_lag_seconds", TARGET), "{{target}}"),
        unit="s",
        size=size,
    )


def findings_table(
    title: str, selector: str, checks: tuple[str, ...], empty: str, size: tuple[int, int]
) -> Json:
    """Open findings, one row each: where, what, how big, and the SQL that fixes and undoes
    it. Three instant queries share target, datname, check and object, so Grafana's merge
    puts each finding's size and SQL on its row."""
    where = f"{selector}, {check_matcher(checks)}"
    finding = "target, datname, check, object"
    return table(
        title,
        "Each open finding (up to findings.max_series_per_check per check and target, most severe "
        "first): the object, its size (the index; for a foreign key without index, its "
        "table), the SQL that fixes it and the SQL that undoes the fix. Run the fix SQL in "
        "the finding's database; CONCURRENTLY statements cannot run inside a transaction. "
        "docs/findings.md explains every check. " + empty,
        Query(by("max", f"{finding}, severity", sel("pgmon_finding", where))),
        Query(by("max", finding, sel("pgmon_finding_evidence", where, f'key=~"{SIZE_KEYS}"'))),
        Query(
            by(
                "max",
                f"{finding}, remediation, rollback",
                sel("pgmon_finding_remediation_info", where),
            )
        ),
        columns=(
            Column("target", "Target"),
            Column("datname", "Database"),
            Column("check", "Check"),
            Column("severity", "Severity", mappings=(SEVERITY,)),
            Column("object", "Object"),
            Column("Value #B", "Size", unit="bytes"),
            Column("remediation", "Fix SQL"),
            Column("rollback", "Rollback SQL"),
        ),
        sort_by="Size",
        size=size,
    )
