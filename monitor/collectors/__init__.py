"""Every collector, by name. The order here is the order of the metrics catalogue."""

from __future__ import annotations

from monitor.collectors import (
    archiver,
    bloat,
    checkpointer,
    connections,
    database,
    index_catalog,
    indexes,
    locks,
    replication,
    sequences,
    server,
    sessions,
    statements,
    tables,
    vacuum,
    wal,
)
from monitor.collectors.base import CollectorSpec

ALL: tuple[CollectorSpec, ...] = (
    connections.SPEC,
    locks.SPEC,
    sessions.SPEC,
    statements.SPEC,
    indexes.SPEC,
    index_catalog.SPEC,
    tables.SPEC,
    sequences.SPEC,
    vacuum.SPEC,
    bloat.SPEC,
    replication.SPEC,
    database.SPEC,
    checkpointer.SPEC,
    wal.SPEC,
    archiver.SPEC,
    server.SPEC,
)
BY_NAME: dict[str, CollectorSpec] = {spec.name: spec for spec in ALL}
