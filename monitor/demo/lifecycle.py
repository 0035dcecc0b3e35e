"""From `pgmon demo` to a clean exit: check what the options need, start everything, show
the summary until Ctrl-C, SIGTERM or --duration, then stop everything and delete its files
(also when start-up fails or is interrupted)."""

from __future__ import annotations

import argparse
import contextlib
import signal
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import TextIO

import psycopg

from monitor.demo.errors import DemoError, MissingTool
from monitor.demo.external import ALERTMANAGER, PROMETHEUS
from monitor.demo.processes import find_program
from monitor.demo.stack import Demo, Options
from monitor.demo.summary import Summary, fetch
from monitor.pginstance import (
    Installation,
    PgServerError,
    installation_at,
    preferred_installation,
    run_as,
)
from monitor.settings import split_listen

EXIT_OK, EXIT_FAILED, EXIT_SETUP = 0, 1, 2


class _Interrupts:
    """SIGINT and SIGTERM set :attr:`stop`; the first one also interrupts the start-up
    (as KeyboardInterrupt) while :attr:`abort_start` is set, never the clean-up."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.abort_start = True

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.stop.set()
        if self.abort_start:
            self.abort_start = False
            raise KeyboardInterrupt


@contextlib.contextmanager
def _interrupts() -> Iterator[_Interrupts]:
    interrupts = _Interrupts()
    signums = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, interrupts.handle) for signum in signums}
    try:
        yield interrupts
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def resolve_listen(listen: str) -> str:
    """``listen`` with a free port chosen for port 0; DemoError if it cannot be bound."""
    try:
        host, port = split_listen(listen)
    except ValueError as exc:
        raise DemoError(f"--listen: {exc}") from None
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as pgmon's server does
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise DemoError(f"--listen {listen}: {exc.strerror or exc}") from None
        port = probe.getsockname()[1]
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _prepare(args: argparse.Namespace) -> tuple[Installation, Options]:
    """Everything that can be known wrong before anything starts (exit status 2)."""
    wanted: list[tuple[str, tuple[str, ...], str]] = []
    if args.prometheus:
        wanted.append(("--prometheus", PROMETHEUS, "prometheus"))
    if args.alertmanager:
        wanted.append(("--alertmanager", ALERTMANAGER, "prometheus-alertmanager"))
    for option, names, package in wanted:
        try:
            find_program(*names)
        except MissingTool:
            raise MissingTool(
                f"{option} needs {' or '.join(names)} on the PATH, and it is not installed "
                f"(on Debian: apt-get install {package})"
            ) from None
    listen = resolve_listen(args.listen)
    server_user = run_as()  # as root, fails here if there is no OS user to run servers as
    if args.pg_bin:
        try:
            installation = installation_at(Path(args.pg_bin), f"--pg-bin {args.pg_bin}")
        except PgServerError as exc:
            if not server_user.prefix:
                raise
            raise PgServerError(
                f"{exc}\n(the servers run as OS user {server_user.user}, who must be able to "
                f"read and run {args.pg_bin})"
            ) from None
    else:
        installation = preferred_installation()
    options = Options(listen=listen, prometheus=args.prometheus, alertmanager=args.alertmanager)
    return installation, options


def _say(out: TextIO, line: str) -> None:
    # A closed pipe (`pgmon demo | head`) must not keep the clean-up from running.
    with contextlib.suppress(OSError):
        out.write(f"pgmon demo: {line}\n")
        out.flush()


def _watch(demo: Demo, args: argparse.Namespace, stop: threading.Event, out: TextIO) -> None:
    summary = Summary(out, demo.banner())
    summary.start()
    deadline = None if args.duration is None else time.monotonic() + args.duration
    while True:
        demo.check_alive()
        summary.show(fetch(demo.url))
        wait = args.summary_interval
        if deadline is not None:
            wait = min(wait, deadline - time.monotonic())
        if wait <= 0 or stop.wait(wait):
            return


def run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _interrupts() as interrupts:
        try:
            installation, options = _prepare(args)
        except (DemoError, PgServerError) as exc:
            err.write(f"pgmon demo: {exc}\n")
            return EXIT_SETUP
        except KeyboardInterrupt:
            return EXIT_OK
        demo = Demo(installation, options)
        code = EXIT_OK
        try:
            demo.start(lambda line: _say(out, line))
            interrupts.abort_start = False
            _watch(demo, args, interrupts.stop, out)
        except KeyboardInterrupt:
            pass
        except (DemoError, PgServerError, psycopg.Error, OSError) as exc:
            err.write(f"pgmon demo: {exc}\n")
            code = EXIT_FAILED
        finally:
            interrupts.abort_start = False
            workdir = demo.cluster.workdir
            _say(out, "stopping")
            problems = demo.close()
        for problem in problems:
            err.write(f"pgmon demo: {problem}\n")
        if problems:
            return EXIT_FAILED
        _say(out, f"stopped; deleted {workdir}" if workdir else "stopped")
        return code
