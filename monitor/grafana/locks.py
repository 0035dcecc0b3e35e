"""Locks & connections: blocking chains, lock waits, and what client sessions are doing."""

from __future__ import annotations

from monitor.grafana import shared
from monitor.grafana.dashboard import Dashboard, Section
from monitor.grafana.panels import Json, Query, stat, thresholds, timeseries
from monitor.grafana.promql import TARGET, TARGET_DB, by, sel

IDLE_IN_TRANSACTION = 'state="idle in transaction"'


def blocking_stat(title: str, description: str, metric: str, unit: str, colours: Json) -> Json:
    return stat(
        title,
        description,
        Query(sel(metric, TARGET), "{{target}}"),
        unit=unit,
        colours=colours,
    )


def blocking_stats() -> tuple[Json, ...]:
    return (
        blocking_stat(
            "Blocked sessions",
            "Sessions waiting now for a heavyweight lock that another session holds or waits "
            "for. 0 is normal; a few for a moment is ordinary contention; a count that stays "
            "up means a chain (see depth and Longest lock wait).",
            "pg_locks_blocked_sessions",
            "none",
            thresholds("green", (1, "orange"), (10, "red")),
        ),
        blocking_stat(
            "Longest lock wait",
            "How long the longest current lock wait has lasted. The blocked_sessions finding "
            "warns after 30 s and is critical after 5 minutes by default; it names the "
            "session at the head of the chain.",
            "pg_locks_max_wait_seconds",
            "s",
            thresholds("green", (30, "orange"), (300, "red")),
        ),
        blocking_stat(
            "Blocking chain depth",
            "Longest chain of waiters: 1 when sessions wait on a session that is not waiting "
            "itself, 2 when someone waits on one of those waiters, and so on. Deep chains "
            "build up behind one long transaction or one lock-hungry statement (ALTER TABLE).",
            "pg_locks_blocking_chain_max_depth",
            "none",
            thresholds("green", (1, "orange"), (3, "red")),
        ),
        blocking_stat(
            "Chain heads",
            "Sessions that block others without waiting themselves: the ones to look at "
            "(often idle in transaction). Ending one of them releases its whole chain.",
            "pg_locks_root_blockers",
            "none",
            thresholds("green", (1, "orange")),
        ),
    )


def blocked_over_time() -> Json:
    return timeseries(
        "Blocked sessions and chain heads",
        "Blocked sessions and the sessions at the heads of their chains, over time. Both at 0 "
        "is normal; a plateau is a chain that is not resolving by itself.",
        Query(sel("pg_locks_blocked_sessions", TARGET), "{{target}} blocked"),
        Query(sel("pg_locks_root_blockers", TARGET), "{{target}} chain heads"),
        unit="none",
        size=(12, 8),
    )


def lock_wait_over_time() -> Json:
    return timeseries(
        "Longest lock wait over time",
        "The longest current wait for a heavyweight lock, over time: a ramp is one session "
        "stuck behind another for that long.",
        Query(sel("pg_locks_max_wait_seconds", TARGET), "{{target}}"),
        unit="s",
        size=(12, 8),
    )


def waiting_by_mode() -> Json:
    return timeseries(
        "Lock requests waiting, by mode",
        "Lock requests not granted yet, per lock mode (zeros included). Waits for "
        "transaction ids are row-level conflicts (two writers on one row) and count under "
        "the waiting session's database; accessexclusivelock waits usually come from DDL.",
        Query(by("sum", "target, mode", sel("pg_locks_waiting", TARGET_DB)), "{{target}} {{mode}}"),
        unit="none",
    )


def held_by_mode() -> Json:
    return timeseries(
        "Locks held, by mode",
        "Lock entries on database objects per mode (granted or not). Ordinary traffic takes "
        "accesssharelock and rowexclusivelock; a rise of the exclusive modes comes with "
        "maintenance or DDL.",
        Query(by("sum", "target, mode", sel("pg_locks_count", TARGET_DB)), "{{target}} {{mode}}"),
        unit="none",
    )


def sessions_by_state() -> Json:
    return timeseries(
        "Client sessions by state",
        "Client sessions per state, all selected databases (pgmon's own session excluded). "
        "active: running a statement; idle: connected, doing nothing; idle in transaction: "
        "holding a transaction open between statements, which keeps its locks and holds back "
        "vacuum.",
        Query(
            by("sum", "target, state", sel("pg_stat_activity_count", TARGET_DB)),
            "{{target}} {{state}}",
        ),
        unit="none",
        size=(8, 8),
    )


def waits_by_type() -> Json:
    return timeseries(
        "Active sessions by wait event type",
        "Sessions running a statement, by what they wait for: none (on CPU), Lock (a "
        "heavyweight lock: see above), LWLock (internal contention), IO, Client (the "
        "application is slow to read or send), IPC, Timeout. Empty unless a client session "
        "is running a statement.",
        Query(
            by(
                "sum",
                "target, wait_event_type",
                sel("pg_stat_activity_wait_event_sessions", TARGET_DB),
            ),
            "{{target}} {{wait_event_type}}",
        ),
        unit="none",
        size=(8, 8),
    )


def age_panel(title: str, description: str, metric: str, *matchers: str) -> Json:
    return timeseries(
        title,
        description,
        Query(
            by("max", "target, datname", sel(metric, TARGET_DB, *matchers)),
            "{{target}} {{datname}}",
        ),
        unit="s",
        size=(8, 8),
    )


def ages() -> tuple[Json, ...]:
    return (
        age_panel(
            "Idle in transaction: longest",
            "Per database, how long the longest idle-in-transaction session has been idle "
            "(0: none). Such a session keeps its locks and snapshot; the idle_in_transaction "
            "finding warns after 60 s by default. idle_in_transaction_session_timeout makes "
            "the server end them.",
            "pg_stat_activity_max_state_duration_seconds",
            IDLE_IN_TRANSACTION,
        ),
        age_panel(
            "Oldest open transaction",
            "Per database, the age of the oldest open transaction in any state (0: none). Old "
            "transactions keep vacuum from removing dead rows everywhere on the server.",
            "pg_stat_activity_max_tx_duration",
        ),
        age_panel(
            "Longest running statement",
            "Per database, how long the longest active statement has been running (0: none "
            "running).",
            "pg_stat_activity_max_query_duration_seconds",
            'state="active"',
        ),
    )


def dashboard() -> Dashboard:
    return Dashboard(
        uid="pgmon-locks",
        title="pgmon / Locks & connections",
        description="Who blocks whom, for how long, and what client sessions are doing.",
        per_database=True,
        sections=(
            Section(
                "Blocking",
                "Blocking chains now and over time (all databases of each target).",
                (*blocking_stats(), blocked_over_time(), lock_wait_over_time()),
            ),
            Section(
                "Locks",
                "Lock entries and waiting requests per mode.",
                (waiting_by_mode(), held_by_mode()),
            ),
            Section(
                "Sessions",
                "Client sessions by state and wait, and the oldest transactions.",
                (sessions_by_state(), waits_by_type(), shared.connections_used(), *ages()),
            ),
        ),
    )
