"""Command line: pgmon run | collect | validate-config | catalog."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from monitor.settings import ConfigError, Settings, load_settings

EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgmon", description="PostgreSQL health monitoring.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(sub: argparse.ArgumentParser, dsn: bool = True) -> argparse.ArgumentParser:
        sub.add_argument("--config", metavar="FILE", help="YAML settings file (or PGMON_CONFIG)")
        if dsn:
            sub.add_argument(
                "--dsn",
                action="append",
                default=[],
                metavar="DSN",
                help="target connection string; repeatable (or PGMON_DSN)",
            )
        return sub

    run = with_config(commands.add_parser("run", help="collect on a schedule and serve /metrics"))
    run.add_argument("--listen", metavar="HOST:PORT", help="HTTP address (or PGMON_LISTEN)")
    with_config(commands.add_parser("collect", help="run every collector once, print metrics"))
    with_config(
        commands.add_parser("validate-config", help="check the configuration and exit"), dsn=False
    )
    catalog = commands.add_parser("catalog", help="print the metrics catalogue")
    catalog.add_argument("--format", choices=("markdown", "json"), default="markdown")
    return parser


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {"dsn": getattr(args, "dsn", None), "listen": getattr(args, "listen", None)}
    settings = load_settings(args.config, **overrides)
    from monitor import logs
    from monitor.targets import all_secrets, build_targets

    logs.configure(settings.log_level, settings.log_format)
    logs.SCRUBBER.add(all_secrets(settings))
    logs.SCRUBBER.add([os.environ.get("PGPASSWORD", "")])
    build_targets(settings)  # name and collector errors surface here, before anything starts
    return settings


def _collect(settings: Settings) -> int:
    from monitor.daemon import make_jobs, run_all_once
    from monitor.snapshot import SnapshotStore
    from monitor.targets import build_targets

    store = SnapshotStore()
    targets = build_targets(settings)
    jobs = make_jobs(targets, store)
    run_all_once(jobs)
    for target in targets:
        target.close()
    sys.stdout.buffer.write(store.render()[0])
    sys.stdout.flush()
    down = {job.target.name for job in jobs if not job.status.up}
    return EXIT_UNREACHABLE if down else EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "catalog":
        from monitor.catalog import render

        sys.stdout.write(render(args.format))
        return EXIT_OK
    try:
        settings = _settings(args)
    except ConfigError as exc:
        print(f"pgmon: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "validate-config":
        print("configuration is valid", file=sys.stderr)
        return EXIT_OK
    if args.command == "collect":
        return _collect(settings)
    from monitor.daemon import Daemon

    try:
        daemon = Daemon(settings)
    except OSError as exc:
        print(f"pgmon: listen {settings.listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    return daemon.run()
