"""database collector: rows in, samples out (no database)."""

from __future__ import annotations

from collections import namedtuple
from decimal import Decimal
from functools import partial

from monitor.collectors import database
from tests.collecting import collected

Stat = namedtuple(
    "Stat",
    "datid datname numbackends xact_commit xact_rollback blks_read blks_hit tup_returned "
    "tup_fetched tup_inserted tup_updated tup_deleted conflicts temp_files temp_bytes deadlocks "
    "checksum_failures checksum_last_failure blk_read_time blk_write_time stats_reset "
    "session_time active_time idle_in_transaction_time sessions sessions_abandoned "
    "sessions_fatal sessions_killed parallel_workers_to_launch parallel_workers_launched",
)
Catalog = namedtuple("Catalog", "datname size_bytes connection_limit frozen_xid_age min_mxid_age")
Settings = namedtuple("Settings", "autovacuum_freeze_max_age autovacuum_multixact_freeze_max_age")

# As PG13 returns it: no session statistics, checksums off, never reset.
PG13_ROW = Stat(
    5, "app", 3, 1000, 7, 50, 950, 10, 9, 8, 7, 6, 0, 2, 16384, 1,
    None, None, 12.5, 2.5, None,
    None, None, None, None, None, None, None, None, None,
)  # fmt: skip
PG18_ROW = PG13_ROW._replace(
    checksum_failures=0,
    stats_reset=Decimal("1700000000.25"),
    session_time=60000.0,
    active_time=1500.0,
    idle_in_transaction_time=250.0,
    sessions=12,
    sessions_abandoned=1,
    sessions_fatal=2,
    sessions_killed=3,
    parallel_workers_to_launch=4,
    parallel_workers_launched=3,
)
APP = {"datid": "5", "datname": "app"}


read = partial(collected, database.SPEC)  # samples -> what a scrape reads


def test_exporter_counters_keep_names_and_units() -> None:
    got = read(database.stat_samples([PG13_ROW]))
    assert got.value("pg_stat_database_numbackends", **APP) == 3
    assert got.value("pg_stat_database_xact_commit", **APP) == 1000
    assert got.value("pg_stat_database_xact_rollback", **APP) == 7
    assert got.value("pg_stat_database_blks_hit", **APP) == 950
    assert got.value("pg_stat_database_temp_files", **APP) == 2
    assert got.value("pg_stat_database_temp_bytes", **APP) == 16384
    assert got.value("pg_stat_database_deadlocks", **APP) == 1
    # postgres_exporter keeps these in milliseconds.
    assert got.value("pg_stat_database_blk_read_time", **APP) == 12.5
    # Never reset reads 0, as in postgres_exporter.
    assert got.value("pg_stat_database_stats_reset", **APP) == 0


def test_pg13_has_no_session_statistics() -> None:
    got = read(database.stat_samples([PG13_ROW]))
    for metric in (
        "pg_stat_database_active_time_seconds_total",
        "pg_stat_database_session_time_seconds_total",
        "pg_stat_database_sessions_total",
        "pg_stat_database_parallel_workers_launched_total",
        # Checksums off: no failures counter rather than a misleading 0.
        "pg_stat_database_checksum_failures_total",
        "pg_stat_database_checksum_last_failure_timestamp_seconds",
    ):
        assert got.samples(metric) == [], metric


def test_session_statistics_in_seconds() -> None:
    got = read(database.stat_samples([PG18_ROW]))
    assert got.value("pg_stat_database_active_time_seconds_total", **APP) == 1.5
    assert got.value("pg_stat_database_session_time_seconds_total", **APP) == 60
    assert got.value("pg_stat_database_idle_in_transaction_time_seconds_total", **APP) == 0.25
    assert got.value("pg_stat_database_sessions_total", **APP) == 12
    assert got.value("pg_stat_database_sessions_abandoned_total", **APP) == 1
    assert got.value("pg_stat_database_sessions_fatal_total", **APP) == 2
    assert got.value("pg_stat_database_sessions_killed_total", **APP) == 3
    assert got.value("pg_stat_database_parallel_workers_to_launch_total", **APP) == 4
    assert got.value("pg_stat_database_parallel_workers_launched_total", **APP) == 3
    assert got.value("pg_stat_database_checksum_failures_total", **APP) == 0
    assert got.value("pg_stat_database_checksum_last_failure_timestamp_seconds", **APP) == 0
    assert got.value("pg_stat_database_stats_reset", **APP) == 1700000000.25


def test_catalog() -> None:
    rows = [
        Catalog("app", 8_000_000, -1, 1234, 5),
        # No CONNECT privilege and not pg_read_all_stats: no size, ages still known.
        Catalog("private", None, 10, 99, 0),
    ]
    got = read(database.catalog_samples(rows))
    assert got.value("pg_database_size_bytes", datname="app") == 8_000_000
    assert got.value("pg_database_size_bytes", datname="private") is None
    assert got.value("pg_database_connection_limit", datname="private") == 10
    assert got.value("pg_database_wraparound_age_datfrozenxid_seconds", datname="app") == 1234
    assert got.value("pg_database_wraparound_age_datminmxid_seconds", datname="app") == 5


def test_settings() -> None:
    got = read(database.settings_samples([Settings(200_000_000, 400_000_000)]))
    assert got.value("pg_settings_autovacuum_freeze_max_age") == 200_000_000
    assert got.value("pg_settings_autovacuum_multixact_freeze_max_age") == 400_000_000


def test_declarations() -> None:
    by_name = database.SPEC.by_name
    assert by_name["pg_stat_database_xact_commit"].kind == "counter"
    assert by_name["pg_stat_database_xact_commit"].labels == ("datid", "datname")
    assert by_name["pg_stat_database_numbackends"].kind == "gauge"
    assert by_name["pg_stat_database_active_time_seconds_total"].min_version == 140000
    assert by_name["pg_database_size_bytes"].labels == ("datname",)
