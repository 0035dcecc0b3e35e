"""Is pgmon scraped, does the server answer, do the collectors keep their data fresh."""

from __future__ import annotations

from monitor.alerting.model import Alert, Group, Level, Runbook

# A collector's failure while its server is down is the server's alert, not the collector's.
_SERVER_UP = "unless on (instance, job, target) pg_up == 0"

GROUP = Group(
    "pgmon-availability",
    alerts=(
        Alert(
            name="PgmonDown",
            expr='up{job=~"[[pgmon_job]]"} == 0',
            levels=(Level("critical"),),
            for_="2m",
            summary="Prometheus cannot scrape pgmon at {{ $labels.instance }}",
            description="The scrape of {{ $labels.instance }} (job {{ $labels.job }}) fails: "
            "no PostgreSQL metric or alert of the servers it watches can be trusted.",
            runbook=Runbook(
                meaning="Prometheus could not scrape pgmon's `/metrics` at all: the process is "
                "down, the port is unreachable, or the scrape times out. Every other alert "
                "about the servers this pgmon watches is blind until it is back.",
                confirm="Open the target on Prometheus' *Status → Targets* page for the scrape "
                "error. From the Prometheus host: `curl -sf http://HOST:9189/healthz`. On the "
                "pgmon host: the process or container status and its log (JSON on stderr).",
                act="Restart pgmon if it exited; its log says why (exit code 2 is a "
                "configuration error, named in one line). If it runs but times out, look at "
                "`pgmon_collector_series` for a collector exporting far more series than usual.",
            ),
        ),
        Alert(
            name="PostgresDown",
            expr="pg_up == 0",
            levels=(Level("critical"),),
            for_="1m",
            summary="PostgreSQL {{ $labels.target }} does not accept pgmon's connection",
            description="pgmon's last connection to {{ $labels.target }} failed; its other "
            "metrics are absent until it answers again.",
            runbook=Runbook(
                meaning="pgmon could not connect to the server, or its connection broke. "
                "pgmon keeps retrying with backoff and recovers on its own once the server "
                "answers; while it is down, the other alerts of this target are inhibited.",
                confirm="`pg_isready -h HOST -p PORT`; the server's log; pgmon's log, which "
                "names the error once when the state changes (`target_down`). A wrong "
                "password or a `pg_hba.conf` rule shows there too.",
                act="Bring the server back (or fail over). If the server is fine, fix what "
                "stops pgmon: credentials, `pg_hba.conf`, network policy, or "
                "`max_connections` exhausted by other clients.",
            ),
        ),
        Alert(
            name="PgmonCollectorFailing",
            expr="(pgmon_collector_up == 0 and pgmon_collector_available == 1) " + _SERVER_UP,
            levels=(Level("warning"),),
            for_="10m",
            summary="pgmon collector {{ $labels.collector }} fails on {{ $labels.target }}",
            description="The {{ $labels.collector }} collector's runs on {{ $labels.target }} "
            "fail; its metrics are missing.",
            runbook=Runbook(
                meaning="The collector's queries fail while the server is up: a statement "
                "timeout on a huge catalog, a lock timeout behind an exclusive lock, or an "
                "error. Its series are dropped (pgmon never serves stale values as fresh).",
                confirm="pgmon's log has a `collector_failed` event with the error. "
                "`pgmon_collector_last_duration_seconds` near the collector's timeout means "
                "it is too slow.",
                act="For timeouts, raise the collector's `timeout` (and `interval`) or lower "
                "its `top_n`; for a missing privilege, grant `pg_monitor` to pgmon's role. "
                "Lock timeouts are pgmon stepping aside on purpose; they clear by themselves.",
            ),
        ),
        Alert(
            name="PgmonCollectorStale",
            expr="(time() - pgmon_collector_last_success_timestamp_seconds "
            "> [[collector_stale_intervals]] * pgmon_collector_interval_seconds "
            "and pgmon_collector_last_success_timestamp_seconds > 0 "
            "and pgmon_collector_available == 1) " + _SERVER_UP,
            levels=(Level("warning"),),
            for_="5m",
            summary="pgmon collector {{ $labels.collector }} on {{ $labels.target }} is stale",
            description="The {{ $labels.collector }} collector on {{ $labels.target }} last "
            "succeeded {{ $value | humanizeDuration }} ago, more than "
            "[[collector_stale_intervals]] of its intervals.",
            runbook=Runbook(
                meaning="The collector has not succeeded for several of its intervals: its "
                "runs fail, or they are not scheduled at all because earlier runs are still "
                "going (each collector runs at most once at a time).",
                confirm="Compare `pgmon_collector_last_duration_seconds` with "
                "`pgmon_collector_interval_seconds`; look for `collector_failed` events in "
                "pgmon's log.",
                act="As for PgmonCollectorFailing. A run longer than its interval needs a "
                "longer interval or a smaller `top_n`.",
            ),
        ),
    ),
)
