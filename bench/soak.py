"""A long run of `pgmon run` against a server under a moderate pgbench workload, with the
daemon's resident memory and open file descriptors recorded every 10 s.

A throwaway primary (and, with ``--replica``, its streaming standby, watched as a second
target) gets a pgbench database of scale ``--scale``; pgbench then runs for the whole
window at ``--tps`` transactions per second over four clients. pgmon watches every database
with each collector at ``--interval`` (15 s by default) and is scraped like Prometheus
would, every 10 s. Each sample holds the daemon's RSS, open file descriptors and threads
(/proc), the sessions it holds (pg_stat_activity), the series and whether every collector
succeeded. The JSON file is rewritten after each sample, so a run cut short keeps its
figures; the summary at the end has the first, last and highest values and the growth of
RSS and descriptors per hour (least squares over the second half of the window, after the
caches have filled).

Usage: python3 bench/soak.py --pg 17 --minutes 30 --out bench/results/soak_pg17.json
A measurement, not a test: it records figures and asserts nothing about them.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from monitor.collectors import ALL  # noqa: E402
from tests.daemon import Daemon  # noqa: E402
from tests.faults import open_files, pgmon_sessions, resident_bytes  # noqa: E402
from tests.pgserver import MONITOR_ROLE, Cluster, Server  # noqa: E402

SAMPLE_SECONDS = 10.0
WORKLOAD_DB = "pgbench"
CLIENTS = 4


def threads_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Threads:"):
            return int(line.split()[1])
    return 0


def pgbench(server: Server, *args: str) -> tuple[list[str], dict[str, str]]:
    """A pgbench command line against the workload database, and its environment (no PG*
    variable of ours may point it elsewhere)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    command = [
        str(server.installation.tool("pgbench")),
        *("--host", "127.0.0.1", "--port", str(server.port), "--username", "postgres"),
        *args,
        WORKLOAD_DB,
    ]
    return command, env


def start_workload(server: Server, scale: int, tps: int, seconds: int) -> subprocess.Popen[str]:
    server.execute(f"CREATE DATABASE {WORKLOAD_DB}")  # type: ignore[arg-type]
    command, env = pgbench(server, "--initialize", "--scale", str(scale), "--quiet")
    subprocess.run(command, env=env, check=True, capture_output=True, text=True)
    command, env = pgbench(
        server,
        *("--client", str(CLIENTS), "--jobs", "2", "--rate", str(tps)),
        *("--time", str(seconds), "--progress", "60"),
    )
    return subprocess.Popen(
        command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def slope_per_hour(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of value over time (seconds), per hour."""
    if len(points) < 2:
        return None
    n = len(points)
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    spread = sum((t - mean_t) ** 2 for t, _ in points)
    if spread == 0:
        return None
    return sum((t - mean_t) * (v - mean_v) for t, v in points) / spread * 3600


def sample(daemon: Daemon, servers: list[Server], began: float) -> dict[str, Any]:
    pid = daemon.proc.pid
    row: dict[str, Any] = {
        "seconds": round(time.monotonic() - began, 1),
        "rss_bytes": resident_bytes(pid),
        "open_fds": open_files(pid),
        "threads": threads_of(pid),
        "sessions": sum(sum(pgmon_sessions(s).values()) for s in servers),
    }
    try:
        series = daemon.scrape()
    except OSError as exc:
        row["scrape_error"] = str(exc)
        return row
    up = [v for (name, _), v in series.items() if name == "pgmon_collector_up"]
    available = [v for (name, _), v in series.items() if name == "pgmon_collector_available"]
    row["series"] = len(series)
    row["collectors_failing"] = int(len(up) - sum(up) - (len(available) - sum(available)))
    return row


def summary(samples: list[dict[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    second_half = samples[len(samples) // 2 :]
    for key in ("rss_bytes", "open_fds", "threads", "sessions"):
        values = [s[key] for s in samples]
        result[key] = {"first": values[0], "last": values[-1], "max": max(values)}
    for key in ("rss_bytes", "open_fds"):
        slope = slope_per_hour([(s["seconds"], s[key]) for s in second_half])
        result[key]["growth_per_hour"] = None if slope is None else round(slope, 1)
    result["samples_with_failing_collectors"] = sum(
        1 for s in samples if s.get("collectors_failing")
    )
    result["scrape_errors"] = sum(1 for s in samples if "scrape_error" in s)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", default="17", help="PostgreSQL major to run on")
    parser.add_argument("--minutes", type=float, default=30.0, help="length of the run")
    parser.add_argument("--out", type=Path, required=True, help="result JSON file")
    parser.add_argument("--scale", type=int, default=10, help="pgbench scale factor")
    parser.add_argument("--tps", type=int, default=200, help="pgbench transactions per second")
    parser.add_argument("--interval", default="15s", help="every collector's interval")
    parser.add_argument("--replica", action="store_true", help="watch a standby as well")
    args = parser.parse_args()

    seconds = int(args.minutes * 60)
    result: dict[str, Any] = {
        "pg": args.pg,
        "minutes": args.minutes,
        "pgbench": {"scale": args.scale, "tps": args.tps, "clients": CLIENTS},
        "interval": args.interval,
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
    }
    samples: list[dict[str, Any]] = []

    def save() -> None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({**result, "samples": samples}, indent=2) + "\n")

    with Cluster(args.pg, with_replica=args.replica) as cluster:
        servers = [cluster.primary, *([cluster.replica] if args.replica else [])]
        result["server_version"] = cluster.primary.scalar("SHOW server_version")
        workload = start_workload(cluster.primary, args.scale, args.tps, seconds + 60)
        targets = [{"name": "primary", "dsn": cluster.primary.dsn(user=MONITOR_ROLE)}]
        if args.replica:
            targets.append({"name": "standby", "dsn": cluster.replica.dsn(user=MONITOR_ROLE)})
        config = {
            "targets": targets,
            "collectors": {spec.name: {"interval": args.interval} for spec in ALL},
            "log_level": "warning",
        }
        try:
            with Daemon(config) as daemon:
                daemon.wait_ready(timeout=120)
                began = time.monotonic()
                while time.monotonic() - began < seconds:
                    samples.append(sample(daemon, servers, began))
                    save()
                    time.sleep(SAMPLE_SECONDS - (time.monotonic() - began) % SAMPLE_SECONDS)
                samples.append(sample(daemon, servers, began))
                result["exit_status"] = daemon.stop()
                result["log_lines"] = len(daemon.logs().splitlines())
        finally:
            workload.terminate()
            output, _ = workload.communicate(timeout=60)
        result["pgbench_progress"] = [
            line for line in output.splitlines() if line.startswith("progress:")
        ][-5:]
    result["summary"] = summary(samples)
    save()
    print(json.dumps({**result, "samples": len(samples)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
