"""Kept rows share equal values without changing any value or its type."""

from __future__ import annotations

from collections import namedtuple

from monitor.collectors.base import shared_values

Row = namedtuple("Row", "name flag count size key")


def test_equal_values_become_one_object_and_keep_their_types() -> None:
    rows = [
        Row("public", False, 0, 0.0, [1, 2]),
        Row("".join(["pub", "lic"]), False, 0, 0.0, [1, 2]),
        Row("other", True, 1, 8192.0, []),
    ]
    got = shared_values(rows)
    assert got == [r._replace(key=tuple(r.key)) for r in rows]
    assert got[0].name is got[1].name and got[0].key is got[1].key
    assert type(got[0].flag) is bool and type(got[0].count) is int
    assert type(got[0].size) is float
    assert all(type(r) is Row for r in got)


def test_values_of_the_previous_rows_are_reused() -> None:
    last = shared_values([Row("".join(["ord", "ers"]), False, 3, 8192.0, [1, 2])])
    got = shared_values([Row("orders", False, 3, 16384.0, [1, 2])], previous=last)
    assert got == [Row("orders", False, 3, 16384.0, (1, 2))]
    assert got[0].name is last[0].name and got[0].key is last[0].key
    assert got[0].size is not last[0].size


def test_unchanged_rows_of_the_previous_run_are_kept_whole() -> None:
    last = shared_values([Row("a", False, 1, 8.0, [1]), Row("b", False, 2, 8.0, [2])])
    got = shared_values(
        [Row("".join("a"), False, 1, 8.0, [1]), Row("b", False, 3, 8.0, [2])],
        previous=last,
        key="name",
    )
    assert got == [Row("a", False, 1, 8.0, (1,)), Row("b", False, 3, 8.0, (2,))]
    assert got[0] is last[0]
    assert got[1] is not last[1] and got[1].key is last[1].key  # changed: its values shared
