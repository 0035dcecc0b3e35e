"""Cost of one full collection cycle on a database with many relations.

Builds a throwaway server with 2,000 tables and about 8,000 indexes, then reports:
- pgmon CPU seconds for one cycle of every collector (in-process, getrusage);
- database execution time of pgmon's queries in that cycle (pg_stat_statements);
- series exposed and exposition size;
- scrape latency p50/p99/max and RSS (last and largest seen) of a `pgmon run` process
  scraped from start-up on, back to back or one scrape every --scrape-every seconds.

Usage: python3 bench/collection_cycle.py [--pg 17] [--tables 2000] [--scrapes 300]
                                         [--scrape-every SECONDS] [--top-n N]
This is a measurement, not a test: it prints figures and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.schema import many_tables_sql  # noqa: E402
from monitor.daemon import make_jobs, run_all_once  # noqa: E402
from monitor.settings import load_settings  # noqa: E402
from monitor.snapshot import SnapshotStore  # noqa: E402
from monitor.targets import build_targets  # noqa: E402
from tests.daemon import Daemon  # noqa: E402
from tests.pgserver import MONITOR_ROLE, Cluster  # noqa: E402


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="17", help="PostgreSQL major to run on")
    parser.add_argument("--tables", type=int, default=2000)
    parser.add_argument("--scrapes", type=int, default=300)
    parser.add_argument(
        "--scrape-every",
        type=float,
        default=0.0,
        help="seconds from one scrape's start to the next (0: back to back); spread over a "
        "minute or more, the scrapes meet collector runs and findings evaluations",
    )
    parser.add_argument(
        "--top-n",
        type=int,
        default=None,
        help="top_n of tables and indexes (default: theirs); raise it for more series",
    )
    args = parser.parse_args()

    figures: dict[str, float | int | str] = {
        "pg": args.pg,
        "tables": args.tables,
        "top_n": args.top_n or "default",
    }
    with Cluster(args.pg, with_replica=False) as cluster:
        primary = cluster.primary
        started = time.monotonic()
        with primary.connect() as conn:
            conn.execute(many_tables_sql(args.tables, ("a", "b", "a, b")))  # type: ignore[arg-type]
            conn.execute("ANALYZE")
        figures["build_seconds"] = round(time.monotonic() - started, 1)
        figures["indexes"] = int(
            primary.scalar("SELECT count(*) FROM pg_indexes WHERE tablename LIKE 'bench_t%'")
        )

        dsn = primary.dsn(user=MONITOR_ROLE)
        collectors = (
            {}
            if args.top_n is None
            else {name: {"top_n": args.top_n} for name in ("tables", "indexes")}
        )
        settings = load_settings(None, dsn=[dsn], log_level="warning", collectors=collectors)
        from monitor import logs

        logs.configure("warning", "json")
        store = SnapshotStore()
        targets = build_targets(settings)
        jobs = make_jobs(targets, store)
        primary.execute("SELECT pg_stat_statements_reset()")
        before_cpu, before_wall = cpu_seconds(), time.monotonic()
        run_all_once(jobs)
        figures["cycle_cpu_seconds"] = round(cpu_seconds() - before_cpu, 3)
        figures["cycle_wall_seconds"] = round(time.monotonic() - before_wall, 3)
        figures["db_exec_seconds"] = round(
            float(
                primary.scalar(
                    "SELECT coalesce(sum(total_exec_time), 0) / 1000 FROM pg_stat_statements s "
                    "JOIN pg_roles r ON r.oid = s.userid WHERE r.rolname = %s",
                    (MONITOR_ROLE,),
                )
            ),
            3,
        )
        failed = [job.name for job in jobs if not job.succeeded]
        body = store.render()
        figures["series"] = sum(s.series for s in store.snapshots())
        figures["exposition_bytes"] = len(body)
        figures["collectors_failed"] = ",".join(failed) or "none"
        for target in targets:
            target.close()

        config = {"targets": [{"name": "bench", "dsn": dsn}], "collectors": collectors}
        with Daemon(config) as daemon:
            daemon.wait_ready(timeout=300)
            latencies = []
            rss_max = 0
            url = f"http://127.0.0.1:{daemon.port}/metrics"
            for _ in range(args.scrapes):
                begin = time.perf_counter()
                with urllib.request.urlopen(url, timeout=10) as response:
                    response.read()
                latencies.append(time.perf_counter() - begin)
                rss_max = max(rss_max, rss_of(daemon.proc.pid))
                time.sleep(max(0.0, begin + args.scrape_every - time.perf_counter()))
            figures["scrape_every_seconds"] = args.scrape_every
            figures["scrape_max_ms"] = round(max(latencies) * 1000, 2)
            figures["scrape_p50_ms"] = round(statistics.median(latencies) * 1000, 2)
            figures["scrape_p99_ms"] = round(percentile(latencies, 0.99) * 1000, 2)
            figures["daemon_rss_mib"] = round(rss_of(daemon.proc.pid) / 2**20, 1)
            figures["daemon_rss_max_mib"] = round(rss_max / 2**20, 1)

    width = max(len(key) for key in figures)
    for key, value in figures.items():
        print(f"{key:<{width}}  {value}")
    out = ROOT / "bench" / "results"
    out.mkdir(exist_ok=True)
    name = f"collection_cycle_pg{args.pg}_t{args.tables}_top{args.top_n or 'default'}.json"
    (out / name).write_text(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
