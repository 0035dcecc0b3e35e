"""index_catalog collector on real servers: the rows it keeps for the index checks, and how a
run keeps the last run's row of every index that did not change."""

from __future__ import annotations

from typing import Any

from monitor.collectors import index_catalog
from tests.collecting import collect, value
from tests.pgserver import Cluster
from tests.scratchdb import NO_AUTOVACUUM, scratch_database

# Plain index scans only, so that the scan lands on the index asked for.
INDEX_SCANS = {"enable_seqscan": "off", "enable_bitmapscan": "off"}


def test_unchanged_indexes_keep_their_rows_between_runs(pg_cluster: Cluster) -> None:
    with scratch_database(pg_cluster.primary, "pgmon_catalog", index_catalog.SPEC) as db:
        db.run(
            f"CREATE TABLE t (a int, b int) {NO_AUTOVACUUM}",
            "INSERT INTO t SELECT g, g FROM generate_series(1, 1000) g",
            "CREATE INDEX t_a ON t (a)",
            "CREATE INDEX t_b ON t (b)",
        )
        state: dict[str, Any] = {}
        got = collect(index_catalog.SPEC, db.dsn(), state=state)
        assert value(got, "pg_database_indexes", datname=db.name) == 2
        first = {row.indexrelname: row for row in state["last_indexes"]}
        assert first["t_a"].idx_scan == 0 and first["t_a"].indexdef.startswith("CREATE INDEX")

        db.run("SELECT * FROM t WHERE a = 1", **INDEX_SCANS)
        collect(index_catalog.SPEC, db.dsn(), state=state)
        second = {row.indexrelname: row for row in state["last_indexes"]}
        assert second["t_b"] is first["t_b"]
        assert second["t_a"] is not first["t_a"] and second["t_a"].idx_scan == 1
        # Its unchanged values are still the last run's objects.
        assert second["t_a"].relname is first["t_a"].relname
