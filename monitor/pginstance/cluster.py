"""A throwaway primary and its streaming replica, and last-resort cleanup at exit."""

from __future__ import annotations

import atexit
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from monitor.pginstance.conf import DEFAULT_TIMEOUT
from monitor.pginstance.errors import PgServerError
from monitor.pginstance.install import Installation, get_installation
from monitor.pginstance.osuser import make_workdir
from monitor.pginstance.replication import make_replica, wait_for_streaming
from monitor.pginstance.server import RUNNING, Server

# Clusters created and not yet cleaned up (see _stop_leftovers).
_LIVE_CLUSTERS: set[Cluster] = set()


@atexit.register
def _stop_leftovers() -> None:
    """Last-resort cleanup when a program forgot, or was interrupted."""
    for cluster in list(_LIVE_CLUSTERS):
        cluster.cleanup()
    for server in list(RUNNING):
        server.kill()


class Cluster:
    """A primary and (by default) one streaming replica of one major version.

    :meth:`start` creates everything on first use (in a fresh :func:`make_workdir`
    named ``<workdir_prefix><major>-...``) and just starts the servers again after
    :meth:`stop`.  :meth:`cleanup` stops the servers and deletes the working directory.
    ``password`` (the superuser's), ``settings``, ``hba`` and ``files`` configure the primary
    (see :meth:`Server.init_primary`); :meth:`bootstrap` runs on it before the replica is made.
    """

    def __init__(
        self,
        installation: Installation | str | int,
        *,
        with_replica: bool = True,
        slot_name: str = "pgmon_replica",
        workdir_prefix: str = "pgmon-pg",
        password: str | None = None,
        settings: Mapping[str, str] | None = None,
        hba: str | None = None,
        files: Mapping[str, str] | None = None,
    ) -> None:
        self.installation = (
            installation
            if isinstance(installation, Installation)
            else get_installation(installation)
        )
        self.with_replica = with_replica
        self.slot_name = slot_name
        self.workdir_prefix = workdir_prefix
        self.password = password
        self.settings = settings
        self.hba = hba
        self.files = files
        self.workdir: Path | None = None
        self.startup_seconds: float | None = None  # of the last start()
        self._primary: Server | None = None
        self._replica: Server | None = None

    def __repr__(self) -> str:
        return f"<{type(self).__name__} pg{self.major} {self.workdir}>"

    @property
    def major(self) -> str:
        return self.installation.major

    @property
    def primary(self) -> Server:
        if self._primary is None:
            raise PgServerError(f"{self!r} has not been started")
        return self._primary

    @property
    def replica(self) -> Server:
        if self._replica is None:
            raise PgServerError(f"{self!r} has no replica (not started, or with_replica=False)")
        return self._replica

    def start(self, timeout: float = DEFAULT_TIMEOUT) -> None:
        began = time.monotonic()
        if self._primary is None:
            try:
                self._create(timeout)
            except BaseException:
                self.cleanup()
                raise
        else:
            self._primary.start(timeout)
            if self._replica is not None:
                self._replica.start(timeout)
                wait_for_streaming(self._replica, timeout)
        self.startup_seconds = time.monotonic() - began

    def _create(self, timeout: float) -> None:
        self.workdir = make_workdir(f"{self.workdir_prefix}{self.major}-")
        _LIVE_CLUSTERS.add(self)
        self._primary = Server(self.installation, self.workdir / "primary", password=self.password)
        self._primary.init_primary(self.settings, self.hba, self.files)
        self._primary.start(timeout)
        self.bootstrap(self._primary)
        if self.with_replica:
            self._replica = make_replica(
                self._primary, self.slot_name, self.workdir / "replica", timeout
            )

    def bootstrap(self, primary: Server) -> None:
        """Prepare the new primary; by default pg_stat_statements in ``postgres``."""
        primary.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

    def stop(self) -> None:
        # Replica first, so it does not spend the shutdown retrying its primary.
        for server in (self._replica, self._primary):
            if server is not None:
                server.stop()

    def cleanup(self) -> None:
        """Stop the servers (forcefully if needed) and delete the working directory."""
        for server in (self._replica, self._primary):
            if server is None:
                continue
            try:
                server.stop()
            except PgServerError:
                server.kill()
        if self.workdir is not None:
            shutil.rmtree(self.workdir, ignore_errors=True)
        self.workdir = self._primary = self._replica = None
        _LIVE_CLUSTERS.discard(self)

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.cleanup()
