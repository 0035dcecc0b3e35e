"""Command line: pgmon run | collect | check | validate-config | catalog | alert-rules | demo."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from monitor import __version__
from monitor.settings import ConfigError, Settings, load_settings

EXIT_OK, EXIT_UNREACHABLE, EXIT_CONFIG = 0, 1, 2
# `pgmon check` follows the Nagios plugin convention.
CHECK_OK, CHECK_WARNING, CHECK_CRITICAL, CHECK_UNKNOWN = 0, 1, 2, 3


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pgmon", description="PostgreSQL health monitoring.")
    parser.add_argument("--version", action="version", version=f"pgmon {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def with_config(
        sub: argparse.ArgumentParser, dsn: bool = True, web: bool = False
    ) -> argparse.ArgumentParser:
        sub.add_argument("--config", metavar="FILE", help="YAML settings file (or PGMON_CONFIG)")
        if web:
            sub.add_argument(
                "--web.config.file",
                dest="web_config_file",
                metavar="FILE",
                help="TLS and basic auth of the endpoints (or PGMON_WEB_CONFIG_FILE)",
            )
        if dsn:
            sub.add_argument(
                "--dsn",
                action="append",
                default=[],
                metavar="DSN",
                help="target connection string; repeatable (or PGMON_DSN)",
            )
        return sub

    run = with_config(
        commands.add_parser("run", help="collect on a schedule and serve /metrics"), web=True
    )
    run.add_argument("--listen", metavar="HOST:PORT", help="HTTP address (or PGMON_LISTEN)")
    with_config(commands.add_parser("collect", help="run every collector once, print metrics"))
    check = with_config(
        commands.add_parser("check", help="run every heuristic once; exit 0/1/2/3 like Nagios")
    )
    check.add_argument("--format", choices=("text", "json"), default="text")
    check.add_argument(
        "--min-severity",
        choices=("info", "warning", "critical"),
        default="info",
        help="leave out findings below this severity",
    )
    with_config(
        commands.add_parser("validate-config", help="check the configuration and exit"),
        dsn=False,
        web=True,
    )
    health = with_config(
        commands.add_parser(
            "healthcheck", help="exit 0 if the local daemon answers /healthz (container probes)"
        ),
        dsn=False,
        web=True,
    )
    health.add_argument("--url", help="default: /healthz on the port of `listen`")
    catalog = commands.add_parser("catalog", help="print the metrics catalogue")
    catalog.add_argument("--format", choices=("markdown", "json"), default="markdown")
    rules = commands.add_parser(
        "alert-rules", help="print the Prometheus rules, with thresholds of your choice"
    )
    rules.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override one threshold (names: docs/runbooks.md); repeatable",
    )
    rules.add_argument("--thresholds", metavar="FILE", help="YAML mapping of threshold overrides")
    rules.add_argument(
        "--max-for", metavar="DURATION", help="cap every `for:` (for test set-ups), e.g. 5s"
    )
    rules.add_argument("--runbook-base-url", metavar="URL", help="where docs/runbooks.md is served")
    rules.add_argument(
        "--format",
        choices=("prometheus", "prometheusrule"),
        default="prometheus",
        help="a rule file, or a prometheus-operator PrometheusRule resource",
    )
    from monitor import demo

    demo.add_arguments(
        commands.add_parser(
            "demo", help="throwaway primary + standby with problems planted, pgmon watching"
        )
    )
    return parser


def _healthcheck(args: argparse.Namespace) -> int:
    """For a container HEALTHCHECK: no curl in a slim image, and the port, the scheme and the
    credentials come from the daemon's own settings and web config file."""
    from monitor.probe import ProbeFailed, probe

    try:
        probe(load_settings(args.config, web_config_file=args.web_config_file), args.url)
    except (ConfigError, ProbeFailed) as exc:
        print(f"pgmon: healthcheck: {exc}", file=sys.stderr)
        return EXIT_UNREACHABLE
    return EXIT_OK


def _alert_rules(args: argparse.Namespace) -> int:
    from pathlib import Path

    from monitor.alerting.render import RUNBOOK_BASE_URL, load_overrides, rules_yaml
    from monitor.durations import parse_seconds

    try:
        overrides = load_overrides(Path(args.thresholds)) if args.thresholds else {}
        for item in args.set:
            name, sep, value = item.partition("=")
            if not sep:
                raise ValueError(f"--set {item!r}: expected NAME=VALUE")
            overrides[name.strip()] = value.strip()
        max_for = float(parse_seconds(args.max_for)) if args.max_for else None  # type: ignore[arg-type]
        text = rules_yaml(
            overrides,
            max_for,
            args.runbook_base_url or RUNBOOK_BASE_URL,
            kubernetes=args.format == "prometheusrule",
        )
    except (OSError, ValueError) as exc:
        print(f"pgmon: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    sys.stdout.write(text)
    return EXIT_OK


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {
        "dsn": getattr(args, "dsn", None),
        "listen": getattr(args, "listen", None),
        "web_config_file": getattr(args, "web_config_file", None),
    }
    settings = load_settings(args.config, **overrides)
    from monitor import logs
    from monitor.targets import all_secrets, build_targets

    logs.configure(settings.log_level, settings.log_format)
    logs.SCRUBBER.add(all_secrets(settings))
    logs.SCRUBBER.add([os.environ.get("PGPASSWORD", "")])
    from monitor.findings.engine import build_policy

    # Name, collector and threshold errors surface here, before anything starts.
    build_policy(settings, build_targets(settings))
    return settings


def _collect(settings: Settings) -> int:
    from monitor.daemon import make_jobs, run_all_once
    from monitor.snapshot import SnapshotStore
    from monitor.targets import build_targets, shard

    store = SnapshotStore()
    targets = shard(settings, build_targets(settings))
    jobs = make_jobs(targets, store)
    run_all_once(jobs)
    for target in targets:
        target.close()
    sys.stdout.buffer.write(store.render())
    sys.stdout.flush()
    down = {job.target.name for job in jobs if not job.status.up}
    return EXIT_UNREACHABLE if down else EXIT_OK


def _check(settings: Settings, fmt: str, min_severity: str) -> int:
    from monitor.findings.engine import build_policy, check_once, worst
    from monitor.findings.model import Severity
    from monitor.findings.report import as_json, as_text
    from monitor.targets import build_targets, shard

    targets = shard(settings, build_targets(settings))
    result = check_once(targets, build_policy(settings, targets))
    floor = Severity.parse(min_severity)
    shown = [f for f in result.findings if f.severity >= floor]
    sys.stdout.write(as_json(shown) if fmt == "json" else as_text(shown, result.unreachable))
    sys.stdout.flush()
    if result.unreachable:
        return CHECK_UNKNOWN  # an incomplete answer must not read as healthy
    severity = worst(result.findings)
    if severity is Severity.CRITICAL:
        return CHECK_CRITICAL
    if severity is Severity.WARNING:
        return CHECK_WARNING
    return CHECK_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command == "catalog":
        from monitor.catalog import render

        sys.stdout.write(render(args.format))
        return EXIT_OK
    if args.command == "alert-rules":
        return _alert_rules(args)
    if args.command == "demo":
        from monitor import demo

        return demo.run(args)
    if args.command == "healthcheck":
        return _healthcheck(args)
    from monitor.webconfig import OPEN, load_web_config

    try:
        settings = _settings(args)
        serves = args.command in ("run", "validate-config")
        web = load_web_config(settings.web_config_file) if serves else OPEN
    except ConfigError as exc:
        print(f"pgmon: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "validate-config":
        print("configuration is valid", file=sys.stderr)
        return EXIT_OK
    if args.command == "collect":
        return _collect(settings)
    if args.command == "check":
        return _check(settings, args.format, args.min_severity)
    from monitor.daemon import Daemon

    try:
        daemon = Daemon(settings, reload=lambda: _settings(args), web=web)
    except OSError as exc:
        print(f"pgmon: listen {settings.listen}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_CONFIG
    return daemon.run()
