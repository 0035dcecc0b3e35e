"""Sessions: connection head-room, transactions left open, lock waits, deadlocks."""

from __future__ import annotations

from monitor.alerting.model import Alert, Group, Level, Runbook

_SESSIONS_SQL = (
    "```sql\nSELECT pid, usename, application_name, client_addr, state, wait_event_type,\n"
    "       now() - xact_start AS xact_age, now() - state_change AS state_age, query\n"
    "FROM pg_stat_activity WHERE backend_type = 'client backend' ORDER BY xact_start;\n```"
)

GROUP = Group(
    "pgmon-activity",
    alerts=(
        Alert(
            name="PostgresConnectionsNearLimit",
            expr="pg_stat_activity_connections_used_ratio > [[level]]",
            levels=(
                Level("warning", "connections_used_warning"),
                Level("critical", "connections_used_critical"),
            ),
            for_="5m",
            summary="{{ $labels.target }} uses {{ $value | humanizePercentage }} of its "
            "connections",
            description="Client sessions on {{ $labels.target }} take "
            "{{ $value | humanizePercentage }} of the connections ordinary roles may open; "
            "new connections fail at 100%.",
            covers=("connection_saturation",),
            runbook=Runbook(
                meaning="Client sessions approach `max_connections` minus the reserved slots. "
                "At the limit, new connections fail with *too many clients already* and the "
                "application sees errors.",
                confirm="Sessions per user, application and state:\n\n```sql\nSELECT usename, "
                "application_name, state, count(*) FROM pg_stat_activity\nWHERE backend_type = "
                "'client backend' GROUP BY 1, 2, 3 ORDER BY 4 DESC;\n```",
                act="Many `idle` sessions: cap the application's pool size, or put a pooler "
                "(PgBouncer) in front. Many `idle in transaction`: see "
                "PostgresIdleInTransaction. Raising `max_connections` needs a restart and costs "
                "memory per connection; do it last.",
            ),
        ),
        Alert(
            name="PostgresIdleInTransaction",
            expr="max by (instance, job, target, datname) "
            '(pg_stat_activity_max_state_duration_seconds{state=~"idle in transaction.*"}) '
            "> [[idle_in_transaction_seconds]]",
            levels=(Level("warning"),),
            for_="1m",
            summary="A session on {{ $labels.target }}/{{ $labels.datname }} is idle in a "
            "transaction",
            description="A session of database {{ $labels.datname }} on {{ $labels.target }} "
            "has been idle inside an open transaction for {{ $value | humanizeDuration }} "
            "(more than [[idle_in_transaction_seconds]]).",
            covers=("idle_in_transaction",),
            runbook=Runbook(
                meaning="A client opened a transaction and stopped talking to the server. "
                "It holds its locks and its snapshot: other sessions may queue behind it, and "
                "VACUUM cannot remove rows deleted since it began, so tables bloat.",
                confirm=_SESSIONS_SQL,
                act="Find the application (`application_name`, `client_addr`) and fix the "
                "code path that leaves the transaction open. To stop the damage now: "
                "`SELECT pg_terminate_backend(pid)`. Set `idle_in_transaction_session_timeout` "
                "for the application's role so the server ends such sessions by itself. "
                "`pgmon check` names the session and gives the SQL.",
            ),
        ),
        Alert(
            name="PostgresLongRunningTransaction",
            expr="max by (instance, job, target, datname) (pg_stat_activity_max_tx_duration) "
            "> [[long_transaction_seconds]]",
            levels=(Level("warning"),),
            for_="2m",
            summary="A transaction on {{ $labels.target }}/{{ $labels.datname }} has been open "
            "for {{ $value | humanizeDuration }}",
            description="The oldest transaction of database {{ $labels.datname }} on "
            "{{ $labels.target }} has been open for {{ $value | humanizeDuration }} (more "
            "than [[long_transaction_seconds]]).",
            covers=("long_running_transaction",),
            runbook=Runbook(
                meaning="A transaction has been open for a long time. Whatever it is doing, "
                "it holds back VACUUM's cleanup horizon on the whole server (dead rows pile "
                "up in every table) and may hold locks others wait for.",
                confirm=_SESSIONS_SQL,
                act="Ask the owner whether the job is expected (a migration, a report, a "
                "backup by `pg_dump`). If not, `SELECT pg_cancel_backend(pid)` stops its "
                "current statement and `pg_terminate_backend(pid)` ends the session. "
                "Long reports belong on a standby.",
            ),
        ),
        Alert(
            name="PostgresBlockedSessions",
            expr="pg_locks_blocked_sessions > 0 and on (instance, job, target) "
            "pg_locks_max_wait_seconds > [[lock_wait_seconds]]",
            levels=(Level("warning"),),
            for_="1m",
            summary="{{ $value }} session(s) on {{ $labels.target }} wait for locks",
            description="{{ $value }} session(s) on {{ $labels.target }} wait for a lock held "
            "by another session; the longest wait exceeds [[lock_wait_seconds]].",
            covers=("blocked_sessions",),
            runbook=Runbook(
                meaning="Sessions wait for heavyweight locks that others hold. Behind a "
                "waiting `ACCESS EXCLUSIVE` request (an `ALTER TABLE`, a `TRUNCATE`), even "
                "plain reads of the table queue up, which can take an application down.",
                confirm="Who blocks whom:\n\n```sql\nSELECT pid, pg_blocking_pids(pid) AS "
                "blocked_by, now() - query_start AS waiting, query\nFROM pg_stat_activity "
                "WHERE cardinality(pg_blocking_pids(pid)) > 0;\n```\n\nThe *Locks & "
                "connections* dashboard shows the chain depth; `pgmon check` names the "
                "sessions at the head of each chain.",
                act="Deal with the session at the head of the chain (often idle in a "
                "transaction): let it finish, or `pg_terminate_backend(pid)`. Run schema "
                "changes with a short `lock_timeout` and retry, so that they never queue "
                "in front of the application.",
            ),
        ),
        Alert(
            name="PostgresDeadlocks",
            expr="sum by (instance, job, target, datname) "
            "(increase(pg_stat_database_deadlocks[10m])) > [[deadlocks_in_10m]]",
            levels=(Level("warning"),),
            for_="0m",
            summary="Deadlocks in {{ $labels.target }}/{{ $labels.datname }}",
            description="About {{ $value | humanize }} deadlock(s) in database "
            "{{ $labels.datname }} on {{ $labels.target }} within 10 minutes.",
            runbook=Runbook(
                meaning="Two or more transactions waited for each other's locks; the server "
                "aborted one of them after `deadlock_timeout`. The application saw an error "
                "(SQLSTATE 40P01), and retried or failed.",
                confirm="The server's log has a *deadlock detected* entry per deadlock, with "
                "both statements (`log_lock_waits = on` adds the waits that preceded it).",
                act="Make the transactions take their locks in the same order (for example, "
                "update rows sorted by key), keep them short, and retry on 40P01.",
            ),
        ),
    ),
)
