"""indexes collector: rows in, samples out (no database)."""

from __future__ import annotations

from collections import namedtuple
from functools import partial

import pytest

from monitor.collectors import indexes
from monitor.sql import query_for
from tests.collecting import collected

Index = namedtuple(
    "Index",
    "datname schemaname relname indexrelname idx_scan idx_tup_read idx_tup_fetch size_bytes "
    "is_unique is_primary is_valid last_idx_scan",
)

PKEY = Index("app", "public", "orders", "orders_pkey", 5.0, 50.0, 40.0, 16384.0, 1.0, 1.0, 1.0, 0.0)
BROKEN = Index(
    "app", "public", "orders", "orders_code_idx", 0.0, 0.0, 0.0, 8192.0, 1.0, 0.0, 0.0, None
)
OTHER = Index("app", "", "other", "other", 9.0, 90.0, 80.0, 81920.0, None, None, None, None)
LABELS = {"datname": "app", "schemaname": "public", "relname": "orders"}


read = partial(collected, indexes.SPEC)  # samples -> what a scrape reads


def test_named_index_rows() -> None:
    got = read(indexes.index_samples([PKEY, BROKEN]))
    pkey = {**LABELS, "indexrelname": "orders_pkey"}
    broken = {**LABELS, "indexrelname": "orders_code_idx"}
    # Counters carry _total in their exposed sample names.
    assert got.value("pg_stat_user_indexes_scans_total", **pkey) == 5
    assert got.value("pg_stat_user_indexes_tuples_read_total", **pkey) == 50
    assert got.value("pg_stat_user_indexes_tuples_fetched_total", **pkey) == 40
    assert got.value("pg_stat_user_indexes_size_bytes", **pkey) == 16384
    assert got.value("pg_stat_user_indexes_last_scan_timestamp_seconds", **pkey) == 0
    assert got.value("pg_index_is_primary", **pkey) == 1
    assert got.value("pg_index_is_valid", **pkey) == 1
    assert got.value("pg_index_is_valid", **broken) == 0
    assert got.value("pg_index_is_unique", **broken) == 1
    assert got.value("pg_index_is_primary", **broken) == 0
    # Before PG16 there is no last scan time: no series rather than a fake 0.
    assert got.value("pg_stat_user_indexes_last_scan_timestamp_seconds", **broken) is None


def test_remainder_row_has_sums_but_no_flags() -> None:
    got = read(indexes.index_samples([PKEY, OTHER]))
    other = {"datname": "app", "schemaname": "", "relname": "other", "indexrelname": "other"}
    assert got.value("pg_stat_user_indexes_scans_total", **other) == 9
    assert got.value("pg_stat_user_indexes_size_bytes", **other) == 81920
    assert got.total("pg_stat_user_indexes_scans_total") == 14
    for metric in ("pg_index_is_unique", "pg_index_is_primary", "pg_index_is_valid"):
        assert len(got.samples(metric)) == 1
        assert got.value(metric, **other) is None


def test_metric_kinds_and_labels() -> None:
    labels = ("datname", "schemaname", "relname", "indexrelname")
    for spec in indexes.METRICS:
        assert spec.labels == labels
        assert (spec.kind == "counter") == spec.name.endswith("_total"), spec.name
    assert indexes.SPEC.by_name["pg_stat_user_indexes_last_scan_timestamp_seconds"].min_version == (
        160000
    )


def test_spec_defaults() -> None:
    spec = indexes.SPEC
    assert (spec.per_database, spec.interval, spec.timeout, spec.top_n) == (True, 300.0, 60.0, 1000)


@pytest.mark.parametrize(
    ("version", "has_last_scan"), [(130000, False), (150000, False), (160000, True), (180000, True)]
)
def test_query_variant_by_version(version: int, has_last_scan: bool) -> None:
    text = query_for("indexes", version)
    assert ("extract(epoch FROM last_idx_scan)" in text) == has_last_scan
    # psycopg reads every % in the text as a placeholder, comments included.
    assert text.count("%s") == 2 and text.count("%") == 2
