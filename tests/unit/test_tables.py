"""tables collector: rows in, samples out (no database)."""

from __future__ import annotations

from collections import namedtuple
from functools import partial

import pytest

from monitor.collectors import tables
from monitor.sql import query_for
from tests.collecting import collected

COLUMNS = (
    "datname schemaname relname seq_scan seq_tup_read idx_scan idx_tup_fetch "
    "n_tup_ins n_tup_upd n_tup_del n_tup_hot_upd n_live_tup n_dead_tup n_mod_since_analyze "
    "vacuum_count autovacuum_count analyze_count autoanalyze_count "
    "last_vacuum last_autovacuum last_analyze last_autoanalyze "
    "table_size_bytes index_size_bytes heap_blks_read heap_blks_hit idx_blks_read "
    "idx_blks_hit toast_blks_read toast_blks_hit tidx_blks_read tidx_blks_hit"
)
Table = namedtuple("Table", COLUMNS)  # type: ignore[misc]

ORDERS = Table(
    "app", "public", "orders", 3, 300, 7, 70, 100, 20, 5, 15, 95, 5, 25, 1, 2, 3, 4,
    1700000000.5, 0.0, 1700000100.0, 0.0, 8192 * 10, 8192 * 4,
    11, 111, 12, 122, 0, 0, 0, 0,
)  # fmt: skip
OTHER = Table(
    "app", "", "other", 30.0, 3000.0, 70.0, 700.0, 1000.0, 200.0, 50.0, 150.0, 950.0, 50.0,
    250.0, 10.0, 20.0, 30.0, 40.0, None, None, None, None, 8192.0 * 100, 8192.0 * 40,
    110.0, 1110.0, 120.0, 1220.0, 1.0, 2.0, 3.0, 4.0,
)  # fmt: skip


read = partial(collected, tables.SPEC)  # samples -> what a scrape reads


def test_named_table_row() -> None:
    got = read(tables.table_samples([ORDERS]))
    labels = {"datname": "app", "schemaname": "public", "relname": "orders"}
    assert got.value("pg_stat_user_tables_seq_scan", **labels) == 3
    assert got.value("pg_stat_user_tables_idx_tup_fetch", **labels) == 70
    assert got.value("pg_stat_user_tables_n_dead_tup", **labels) == 5
    assert got.value("pg_stat_user_tables_n_mod_since_analyze", **labels) == 25
    assert got.value("pg_stat_user_tables_autoanalyze_count", **labels) == 4
    assert got.value("pg_stat_user_tables_last_vacuum", **labels) == 1700000000.5
    # Never is 0, as postgres_exporter has it, not a missing series.
    assert got.value("pg_stat_user_tables_last_autovacuum", **labels) == 0
    assert got.value("pg_stat_user_tables_table_size_bytes", **labels) == 81920
    assert got.value("pg_stat_user_tables_index_size_bytes", **labels) == 32768
    assert got.value("pg_statio_user_tables_heap_blocks_hit", **labels) == 111
    assert got.value("pg_statio_user_tables_idx_blocks_read", **labels) == 12
    assert got.value("pg_statio_user_tables_tidx_blocks_hit", **labels) == 0
    # One sample for every declared metric.
    assert {f.name for f in got.families} == {m.family for m in tables.METRICS}


def test_remainder_row_has_sums_but_no_timestamps() -> None:
    got = read(tables.table_samples([ORDERS, OTHER]))
    other = {"datname": "app", "schemaname": "", "relname": "other"}
    assert got.value("pg_stat_user_tables_seq_scan", **other) == 30
    assert got.value("pg_stat_user_tables_n_live_tup", **other) == 950
    assert got.value("pg_stat_user_tables_table_size_bytes", **other) == 819200
    assert got.value("pg_statio_user_tables_tidx_blocks_hit", **other) == 4
    for column in ("last_vacuum", "last_autovacuum", "last_analyze", "last_autoanalyze"):
        assert [lbl["relname"] for lbl, _ in got.samples(f"pg_stat_user_tables_{column}")] == [
            "orders"
        ]
    assert got.total("pg_stat_user_tables_n_tup_ins") == 1100


def test_postgres_exporter_names_and_types() -> None:
    by_name = tables.SPEC.by_name
    for column in ("seq_scan", "n_tup_hot_upd", "vacuum_count", "autoanalyze_count"):
        spec = by_name[f"pg_stat_user_tables_{column}"]
        assert spec.kind == "counter" and spec.labels == ("datname", "schemaname", "relname")
    for column in ("n_live_tup", "last_autovacuum", "table_size_bytes", "index_size_bytes"):
        assert by_name[f"pg_stat_user_tables_{column}"].kind == "gauge"
    statio = [m for m in tables.METRICS if m.name.startswith("pg_statio_user_tables_")]
    assert len(statio) == 8 and all(m.kind == "counter" for m in statio)
    # Counters keep postgres_exporter's names, without _total.
    assert not any(m.name.endswith("_total") for m in tables.METRICS)


def test_spec_defaults() -> None:
    spec = tables.SPEC
    assert (spec.per_database, spec.interval, spec.timeout, spec.top_n) == (True, 300.0, 60.0, 1000)


@pytest.mark.parametrize("version", [130000, 150000, 170000, 180000])
@pytest.mark.parametrize(("query", "placeholders"), [("tables", 2), ("tables_named", 5)])
def test_queries_have_only_their_placeholders(version: int, query: str, placeholders: int) -> None:
    # psycopg reads every % in the text as a placeholder, comments included.
    text = query_for(query, version)
    assert text.count("%s") == placeholders and text.count("%") == placeholders
    assert text.startswith(f"-- {query}:")
