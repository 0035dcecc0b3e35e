"""Rows to samples: labels and values by column, metric by metric, NULLs skipped, unchanged
rows' samples kept."""

from __future__ import annotations

from collections import namedtuple
from decimal import Decimal

from monitor.collectors.base import SampleMemo, samples_from_rows
from monitor.metrics import Sample

Row = namedtuple("Row", "datname relname scans size")
VALUES = {"scans": "pg_scans_total", "size": "pg_size_bytes"}


def test_one_sample_per_value_column_and_no_sample_for_null() -> None:
    rows = [
        Row("app", "t", 3, Decimal("8192")),
        Row("app", None, None, 0),
        Row("app", "u", 4, None),
    ]
    assert samples_from_rows(rows, ("datname", "relname"), VALUES) == [
        Sample("pg_scans_total", ("app", "t"), 3.0),
        Sample("pg_scans_total", ("app", "u"), 4.0),
        Sample("pg_size_bytes", ("app", "t"), 8192.0),
        Sample("pg_size_bytes", ("app", ""), 0.0),
    ]
    assert all(type(s.value) is float for s in samples_from_rows(rows, ("datname",), VALUES))


def test_an_unchanged_row_keeps_its_samples_and_the_memo_only_the_last_rows() -> None:
    memo: SampleMemo = {}
    first = samples_from_rows(
        [Row("app", "a", 1, 8), Row("app", "b", 2, 8)], ("relname",), VALUES, memo=memo
    )
    second = samples_from_rows(
        [Row("app", "a", 1, 8), Row("app", "b", 3, 8)], ("relname",), VALUES, memo=memo
    )
    assert second == [
        Sample("pg_scans_total", ("a",), 1.0),
        Sample("pg_scans_total", ("b",), 3.0),
        Sample("pg_size_bytes", ("a",), 8.0),
        Sample("pg_size_bytes", ("b",), 8.0),
    ]
    assert second[0] is first[0] and second[2] is first[2]
    assert second[1] is not first[1]
    assert set(memo) == {Row("app", "a", 1, 8), Row("app", "b", 3, 8)}
