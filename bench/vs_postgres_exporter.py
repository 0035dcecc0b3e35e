"""pgmon and postgres_exporter side by side on one throwaway PostgreSQL server.

Builds a server with ``--databases`` databases of ``--tables`` tables each (three
indexes per table), then runs, at the same time and against the same server:

- ``pgmon run`` (role ``pgmon``) on one of two schedules (``--schedule``):
  ``equal`` runs every collector whose signals postgres_exporter also refreshes on each
  scrape at 15 s and leaves the catalogue collectors that only pgmon has (index catalogue,
  per-index usage, sequences, vacuum and freeze ages, bloat) at their defaults;
  ``all-15s`` runs every collector at 15 s;
- postgres_exporter (role ``postgres_exporter``, Debian package
  ``prometheus-postgres-exporter``) with the example queries file the package ships
  (table statistics and pg_stat_statements included; two queries adapted so that they run,
  see ``exporter_queries_file``) and database auto-discovery, so that both visit every
  database.

The window opens once the freshly built server is at rest: every database vacuumed and
analyzed, a checkpoint, then no WAL written for 30 s (``--no-settle`` skips this).
``--writes-per-second`` keeps WAL moving during the window, as on a server in service.
Both are scraped every 15 s by this script (urllib, no Prometheus) during a window of
``--minutes`` minutes. postgres_exporter runs its queries on every scrape, pgmon on its own
schedule, so both expose data at most about 15 s old. Per exporter the result holds: CPU
seconds per minute (/proc/<pid>/stat), database execution time per minute
(pg_stat_statements, by role, reset when the window opens), scrape latency p50/p99, series
count and RSS (/proc/<pid>/status). Afterwards one pgmon cycle is run in-process with every
statement recorded, and the same statements are replayed through psql to compare client
CPU: pgmon's own overhead over plain SQL.

Usage: python3 bench/vs_postgres_exporter.py --pg 17 --tables 200 --databases 1 \
           --minutes 2 --out bench/results/vs_pe_pg17_t200_d1.json
This is a measurement, not a test: it records figures and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psycopg  # noqa: E402
import yaml  # noqa: E402
from psycopg import ClientCursor, sql  # noqa: E402

from bench.schema import many_tables_sql  # noqa: E402
from monitor.collectors import ALL  # noqa: E402
from tests.daemon import Daemon, free_port, wait_for  # noqa: E402
from tests.pgserver import MONITOR_ROLE, Cluster  # noqa: E402

EXPORTER_ROLE = "postgres_exporter"
EXPORTER_BINARY = "prometheus-postgres-exporter"
EXPORTER_PACKAGE = "prometheus-postgres-exporter"
FRESHNESS_SECONDS = 15.0
# pg_stat_statements columns renamed in PostgreSQL 13 (<kind>_time) and 17 (blk_<io>_time)
TIMED = ("total", "min", "max", "mean", "stddev")
IO = ("read", "write")
# pgmon's collectors that only read what pgmon alone exports, from catalogues that change
# slowly; `--schedule equal` leaves them at their default intervals.
PGMON_ONLY = ("index_catalog", "indexes", "sequences", "vacuum", "bloat")


def pgmon_intervals(schedule: str) -> dict[str, dict[str, float]]:
    names = [spec.name for spec in ALL]
    if schedule == "equal":
        names = [name for name in names if name not in PGMON_ONLY]
    return {name: {"interval": FRESHNESS_SECONDS} for name in names}


CLK_TCK = os.sysconf("SC_CLK_TCK")


# -- process figures ---------------------------------------------------------------


def cpu_seconds_of(pid: int) -> float:
    """utime + stime of one process, from /proc (fields 14 and 15 of stat)."""
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mib_of(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def series_in(body: bytes) -> int:
    return sum(1 for line in body.splitlines() if line and not line.startswith(b"#"))


def failing(exporter: str, body: bytes) -> list[str]:
    """What the exporter itself reports as failed in a scrape: pgmon's collectors with
    pgmon_collector_up 0, postgres_exporter's pg_exporter_last_scrape_error."""
    found = []
    for line in body.decode(errors="replace").splitlines():
        name, _, value = line.rpartition(" ")
        if exporter == "pgmon" and name.startswith("pgmon_collector_up{"):
            if float(value) == 0:
                found.append(name.split('collector="', 1)[1].split('"', 1)[0])
        elif name == "pg_exporter_last_scrape_error" and float(value) != 0:
            found.append(name)
    return found


def scrape(url: str) -> tuple[float, bytes]:
    """Latency and body of one scrape. postgres_exporter answers 500 with the error text
    when any of its queries failed; that is raised as HTTPError (an OSError)."""
    begin = time.perf_counter()
    with urllib.request.urlopen(url, timeout=120) as response:
        body = response.read()
    return time.perf_counter() - begin, body


# -- postgres_exporter ---------------------------------------------------------------


def exporter_queries_file(pg_major: int) -> Path:
    """The example queries file shipped by the Debian package (path from dpkg -L), with two
    changes that make it work as meant on the server measured:

    - `pg_process_idle` reads the cluster-wide pg_stat_activity but is not marked `master`,
      so with --auto-discover-databases it runs once per database, the duplicate series
      make every scrape fail with HTTP 500. Marked `master` here, it runs once.
    - `pg_stat_statements` reads columns renamed in PostgreSQL 13 (total_time became
      total_exec_time, and so on) and 17 (blk_read_time became shared_blk_read_time): as
      shipped it fails on every scrape and exports nothing, while pgmon exports statements
      at the same 15 s. The query here reads the new names under the same metric names.
    """
    listing = subprocess.run(
        ["dpkg", "-L", EXPORTER_PACKAGE], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    shipped = next((Path(line) for line in listing if line.endswith("/queries.yaml")), None)
    if shipped is None or not shipped.is_file():
        raise SystemExit(f"no queries.yaml in `dpkg -L {EXPORTER_PACKAGE}`")
    queries = yaml.safe_load(shipped.read_text())
    if "pg_process_idle" in queries:
        queries["pg_process_idle"]["master"] = True
    statements = queries.get("pg_stat_statements")
    if statements is not None:
        renames = {f"{kind}_time / 1000": f"{kind}_exec_time / 1000" for kind in TIMED}
        if pg_major >= 17:
            renames |= {f"blk_{io}_time / 1000": f"shared_blk_{io}_time / 1000" for io in IO}
        for old, new in renames.items():
            statements["query"] = statements["query"].replace(old, new)
    out = Path(tempfile.mkdtemp(prefix="pe-queries-")) / "queries.yaml"
    out.write_text(yaml.safe_dump(queries, sort_keys=False))
    return out


class Exporter:
    """postgres_exporter on a free loopback port, started and stopped by PID."""

    def __init__(self, dsn: str, queries: Path) -> None:
        binary = shutil.which(EXPORTER_BINARY)
        if binary is None:
            raise SystemExit(
                f"{EXPORTER_BINARY} not found: apt-get install -y --no-install-recommends "
                f"{EXPORTER_PACKAGE}"
            )
        self.port = free_port()
        self._dir = Path(tempfile.mkdtemp(prefix="pe-"))
        self.log_path = self._dir / "postgres_exporter.log"
        self.log = self.log_path.open("wb")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PG", "DATA_SOURCE"))}
        env["DATA_SOURCE_NAME"] = dsn
        self.version = subprocess.run(
            [binary, "--version"], capture_output=True, text=True, check=False
        ).stderr.splitlines()[0:1]
        self.proc = subprocess.Popen(
            [
                binary,
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--extend.query-path={queries}",
                "--auto-discover-databases",
                "--log.level=warn",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        self.url = f"http://127.0.0.1:{self.port}/metrics"

    def wait_answering(self) -> None:
        def answers() -> bool:
            if self.proc.poll() is not None:
                raise SystemExit(f"postgres_exporter exited: {self.logs()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/", timeout=2):
                    return True
            except OSError:
                return False

        wait_for(answers, 20, "postgres_exporter to answer")

    def logs(self) -> str:
        if not self.log.closed:
            self.log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self.log.close()

    def cleanup(self) -> None:
        shutil.rmtree(self._dir, ignore_errors=True)


# -- the server ------------------------------------------------------------------------


def build(cluster: Cluster, tables: int, databases: int) -> list[str]:
    """``databases`` databases bench_1.. with ``tables`` tables each; returns their names."""
    primary = cluster.primary
    # Both exporters hold a session per database; 50 databases need more than the default.
    with primary.connect() as conn:
        conn.execute("ALTER SYSTEM SET max_connections = 400")
        conn.execute("ALTER SYSTEM SET pg_stat_statements.max = 20000")
        conn.execute("ALTER SYSTEM SET max_locks_per_transaction = 256")
    primary.restart()
    names = [f"bench_{i}" for i in range(1, databases + 1)]
    with primary.connect() as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(names[0])))
        conn.execute(
            sql.SQL("CREATE ROLE {} LOGIN IN ROLE pg_monitor").format(sql.Identifier(EXPORTER_ROLE))
        )
    with primary.connect(names[0]) as conn:
        conn.execute(many_tables_sql(tables, ("a", "b")))  # type: ignore[arg-type]
        conn.execute("ANALYZE")
    with primary.connect() as conn:
        for name in names[1:]:
            conn.execute(
                sql.SQL("CREATE DATABASE {} TEMPLATE {}").format(
                    sql.Identifier(name), sql.Identifier(names[0])
                )
            )
    return names


# Right after it is built, the server keeps writing WAL for minutes: autovacuum visits
# every new table and the new statistics are pruned. A server in service has long been
# through that, so the window opens once the server is at rest (see `settle`).
QUIET_SECONDS = 30.0
SETTLE_MAX_SECONDS = 900.0


def settle(cluster: Cluster, names: list[str]) -> dict[str, Any]:
    """VACUUM (ANALYZE) of every database and a CHECKPOINT, then a wait until no WAL was
    written for QUIET_SECONDS (given up after SETTLE_MAX_SECONDS, which the result says)."""
    primary = cluster.primary
    begin = time.monotonic()
    for name in ["postgres", *names]:
        with primary.connect(name) as conn:
            conn.execute("VACUUM (ANALYZE)")
    primary.execute("CHECKPOINT")
    position, quiet_since = None, time.monotonic()
    while time.monotonic() - quiet_since < QUIET_SECONDS:
        if time.monotonic() - begin > SETTLE_MAX_SECONDS:
            break
        now = primary.scalar("SELECT pg_current_wal_insert_lsn()::text")
        if now != position:
            position, quiet_since = now, time.monotonic()
        time.sleep(1.0)
    quiet = time.monotonic() - quiet_since >= QUIET_SECONDS
    return {"settle_seconds": round(time.monotonic() - begin, 1), "settled": quiet}


def db_seconds_by_statement(cluster: Cluster, limit: int = 8) -> dict[str, list[list[Any]]]:
    """Per role, its costliest statements: [first line of the text, seconds, calls]."""
    rows = cluster.primary.execute(
        "SELECT r.rolname, left(split_part(ltrim(s.query), E'\\n', 1), 100),"
        " sum(s.total_exec_time) / 1000, sum(s.calls)"
        " FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
        " WHERE r.rolname = ANY(%s) GROUP BY 1, 2 ORDER BY 3 DESC",
        ([MONITOR_ROLE, EXPORTER_ROLE],),
    )
    out: dict[str, list[list[Any]]] = {}
    for role, text, seconds, calls in rows:
        top = out.setdefault(role, [])
        if len(top) < limit:
            top.append([text, round(float(seconds), 3), int(calls)])
    return out


def db_seconds_by_role(cluster: Cluster) -> dict[str, float]:
    rows = cluster.primary.execute(
        "SELECT r.rolname, coalesce(sum(s.total_exec_time), 0) / 1000, coalesce(sum(s.calls), 0)"
        " FROM pg_stat_statements s JOIN pg_roles r ON r.oid = s.userid"
        " WHERE r.rolname = ANY(%s) GROUP BY r.rolname",
        ([MONITOR_ROLE, EXPORTER_ROLE],),
    )
    return {f"{name}_seconds": float(sec) for name, sec, _ in rows} | {
        f"{name}_calls": float(calls) for name, _, calls in rows
    }


# -- pgmon versus psql -------------------------------------------------------------------


def pgmon_versus_psql(cluster: Cluster, dsn: str) -> dict[str, Any]:
    """One pgmon cycle in-process with every statement recorded (parameters inlined),
    then the same statements through psql as the same role. Both fetch the same rows;
    pgmon turns them into metric families and exposition text, psql into aligned text."""
    from monitor import logs
    from monitor.collectors import base
    from monitor.daemon import make_jobs, run_all_once
    from monitor.settings import load_settings
    from monitor.snapshot import SnapshotStore
    from monitor.targets import build_targets

    recorded: list[tuple[str, str]] = []
    original = base.RunContext.fetch_sql

    def recording(self: Any, statement: Any, params: Any = None, **options: Any) -> Any:
        text = ClientCursor(self.conn).mogrify(statement, params)
        recorded.append((self.conn.info.dbname, text))
        return original(self, statement, params, **options)

    logs.configure("warning", "json")
    settings = load_settings(None, dsn=[dsn], log_level="warning")
    store = SnapshotStore()
    targets = build_targets(settings)
    jobs = make_jobs(targets, store)
    run_all_once(jobs)  # warm: connections, catalogues, first-run state
    base.RunContext.fetch_sql = recording  # type: ignore[method-assign]
    try:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        before_cpu, before_wall = usage.ru_utime + usage.ru_stime, time.monotonic()
        run_all_once(jobs)
        store.render()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        pgmon_cpu = usage.ru_utime + usage.ru_stime - before_cpu
        pgmon_wall = time.monotonic() - before_wall
    finally:
        base.RunContext.fetch_sql = original  # type: ignore[method-assign]
    for target in targets:
        target.close()

    script = Path(tempfile.mkdtemp(prefix="pgmon-psql-")) / "cycle.sql"
    lines, current = [], None
    for dbname, text in recorded:
        if dbname != current:
            lines.append(f"\\connect {dbname}")
            current = dbname
        lines.append(text.rstrip().rstrip(";") + ";")
    script.write_text("\n".join(lines) + "\n")
    psql = cluster.primary.installation.tool("psql")
    port = cluster.primary.port
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    begin = time.monotonic()
    subprocess.run(
        [str(psql), "-X", "-q", "-h", "127.0.0.1", "-p", str(port), "-U", MONITOR_ROLE,
         "-d", "postgres", "-v", "ON_ERROR_STOP=0", "-f", str(script), "-o", os.devnull],
        check=False,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    psql_wall = time.monotonic() - begin
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    psql_cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    shutil.rmtree(script.parent, ignore_errors=True)
    return {
        "statements": len(recorded),
        "pgmon_cycle_cpu_s": round(pgmon_cpu, 3),
        "pgmon_cycle_wall_s": round(pgmon_wall, 3),
        "psql_cpu_s": round(psql_cpu, 3),
        "psql_wall_s": round(psql_wall, 3),
    }


# -- the window --------------------------------------------------------------------------


class Writer:
    """Keeps WAL moving during the window, as a server in service does: `rate` times a
    second, one row of one table updated, the next table each time. It logs in as the
    superuser, whose statements neither exporter's figures count."""

    def __init__(self, cluster: Cluster, database: str, tables: int, rate: float) -> None:
        self.dsn = cluster.primary.dsn(database)
        self.tables, self.rate = tables, rate
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._write, daemon=True)
        self.written = 0

    def _write(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            tick = time.monotonic()
            while not self.stop.is_set():
                table = sql.Identifier(f"bench_t{self.written % self.tables + 1}")
                conn.execute(sql.SQL("UPDATE {} SET a = a + 1 WHERE id = 1").format(table))
                self.written += 1
                tick += 1 / self.rate
                self.stop.wait(max(0.0, tick - time.monotonic()))

    def __enter__(self) -> Writer:
        if self.rate > 0:
            self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        if self.thread.is_alive():
            self.thread.join(10)


def run_window(
    cluster: Cluster, pgmon: Daemon, exporter: Exporter, minutes: float
) -> dict[str, Any]:
    pids = {"pgmon": pgmon.proc.pid, "postgres_exporter": exporter.proc.pid}
    urls = {"pgmon": f"http://127.0.0.1:{pgmon.port}/metrics", "postgres_exporter": exporter.url}
    latencies: dict[str, list[float]] = {name: [] for name in pids}
    series: dict[str, int] = {}
    last: dict[str, bytes] = {}
    rss: dict[str, list[float]] = {name: [] for name in pids}
    errors: dict[str, int] = {name: 0 for name in pids}

    cluster.primary.execute("SELECT pg_stat_statements_reset()")
    cpu_before = {name: cpu_seconds_of(pid) for name, pid in pids.items()}
    started = time.monotonic()
    end = started + minutes * 60
    tick = started
    while tick < end:

        def one(name: str) -> None:
            try:
                seconds, body = scrape(urls[name])
            except OSError:
                errors[name] += 1
                return
            latencies[name].append(seconds)
            series[name] = series_in(body)
            last[name] = body
            rss[name].append(rss_mib_of(pids[name]))

        threads = [threading.Thread(target=one, args=(name,)) for name in pids]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        tick += FRESHNESS_SECONDS
        time.sleep(max(0.0, tick - time.monotonic()))
    elapsed_min = (time.monotonic() - started) / 60
    cpu_after = {name: cpu_seconds_of(pid) for name, pid in pids.items()}
    db = db_seconds_by_role(cluster)
    statements = db_seconds_by_statement(cluster)
    roles = {"pgmon": MONITOR_ROLE, "postgres_exporter": EXPORTER_ROLE}
    result: dict[str, Any] = {"window_minutes": round(elapsed_min, 2)}
    for name in pids:
        lat = latencies[name] or [float("nan")]
        result[name] = {
            "cpu_s_per_min": round((cpu_after[name] - cpu_before[name]) / elapsed_min, 4),
            "db_exec_s_per_min": round(db.get(f"{roles[name]}_seconds", 0.0) / elapsed_min, 4),
            "db_calls_per_min": round(db.get(f"{roles[name]}_calls", 0.0) / elapsed_min, 1),
            "scrape_p50_ms": round(statistics.median(lat) * 1000, 1),
            "scrape_p99_ms": round(percentile(lat, 0.99) * 1000, 1),
            "scrapes": len(latencies[name]),
            "scrape_errors": errors[name],
            "series": series.get(name, 0),
            "rss_mib_max": round(max(rss[name] or [0.0]), 1),
            "failing_at_last_scrape": failing(name, last.get(name, b"")),
            "costliest_statements": statements.get(roles[name], []),
        }
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="17", help="PostgreSQL major to run on")
    parser.add_argument("--tables", type=int, default=200, help="tables per database")
    parser.add_argument("--databases", type=int, default=1)
    parser.add_argument("--minutes", type=float, default=2.0, help="measured window")
    parser.add_argument("--out", type=Path, required=True, help="result JSON file")
    parser.add_argument(
        "--schedule",
        choices=("equal", "all-15s"),
        default="equal",
        help="pgmon's intervals: equal freshness for what both export, or everything at 15 s",
    )
    parser.add_argument(
        "--writes-per-second",
        type=float,
        default=0.0,
        help="rows updated per second during the window (one per table in turn), so that "
        "WAL keeps moving as on a server in service",
    )
    parser.add_argument(
        "--no-settle",
        action="store_true",
        help="open the window right after building, while the server still writes WAL",
    )
    args = parser.parse_args()

    queries = exporter_queries_file(int(args.pg))
    result: dict[str, Any] = {
        "pg": args.pg,
        "tables_per_database": args.tables,
        "databases": args.databases,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "schedule": args.schedule,
        "writes_per_second": args.writes_per_second,
    }
    with Cluster(args.pg, with_replica=False) as cluster:
        primary = cluster.primary
        begin = time.monotonic()
        names = build(cluster, args.tables, args.databases)
        result["build_seconds"] = round(time.monotonic() - begin, 1)
        if not args.no_settle:
            result |= settle(cluster, names)
        result["server_version"] = primary.scalar("SHOW server_version")

        pgmon_dsn = primary.dsn(user=MONITOR_ROLE)
        config = {
            "targets": [{"name": "bench", "dsn": pgmon_dsn}],
            "collectors": pgmon_intervals(args.schedule),
            "log_level": "warning",
        }
        exporter = Exporter(primary.dsn(user=EXPORTER_ROLE) + "?sslmode=disable", queries)
        result["postgres_exporter_version"] = " ".join(exporter.version)
        try:
            with Daemon(config) as pgmon:
                exporter.wait_answering()
                pgmon.wait_ready(timeout=600)
                try:
                    scrape(exporter.url)  # first scrape: connections, database discovery
                except urllib.error.HTTPError as exc:
                    print(exc.read().decode()[:3000])
                    raise
                scrape(f"http://127.0.0.1:{pgmon.port}/metrics")
                with Writer(cluster, names[0], args.tables, args.writes_per_second) as writer:
                    result |= run_window(cluster, pgmon, exporter, args.minutes)
                result["writes"] = writer.written
                failing = [
                    line
                    for line in exporter.logs().splitlines()
                    if "level=error" in line or "level=warn" in line
                ]
                result["postgres_exporter_log_problems"] = sorted(
                    {line.split("err=", 1)[-1][:160] for line in failing}
                )[:10]
        finally:
            exporter.stop()
            exporter.cleanup()
        result["pgmon_vs_psql"] = pgmon_versus_psql(cluster, pgmon_dsn)
    shutil.rmtree(queries.parent, ignore_errors=True)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
