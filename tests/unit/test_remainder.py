"""The target-wide top N of per-database relation collectors: kept, folded, summed."""

from __future__ import annotations

from monitor.collectors import indexes, tables
from monitor.collectors.remainder import Remainder, cut
from monitor.metrics import Sample

RULE = Remainder(
    remainder_of=lambda labels: (labels[0], "other"),
    weight=("size",),
    unsummed=frozenset({"last", "valid"}),
    zero_first="valid",
)


def rows(*specs: tuple[str, str, float, float]) -> list[Sample]:
    """(database, relation, size, scans) rows, each with a timestamp and a valid flag."""
    out = []
    for db, rel, size, scans in specs:
        labels = (db, rel)
        out += [Sample("size", labels, size), Sample("scans", labels, scans)]
        if rel != "other":
            out += [Sample("last", labels, 1e9), Sample("valid", labels, 1)]
    return out


def by_row(samples: list[Sample]) -> dict[tuple[str, ...], dict[str, float]]:
    found: dict[tuple[str, ...], dict[str, float]] = {}
    for sample in samples:
        assert sample.metric not in found.setdefault(sample.labels, {}), sample
        found[sample.labels][sample.metric] = sample.value
    return found


def test_fewer_rows_than_top_n_are_left_alone() -> None:
    samples = rows(("a", "t1", 10, 1), ("b", "t2", 20, 2), ("b", "other", 3, 3))
    assert cut(samples, 2, RULE) == (samples, {("a", "t1"), ("b", "t2")})


def test_largest_over_all_databases_are_kept_and_the_rest_fold_into_their_database() -> None:
    samples = rows(
        ("a", "big", 100, 1),
        ("a", "small", 1, 2),
        ("a", "other", 5, 3),
        ("b", "mid", 50, 4),
        ("b", "tiny", 2, 5),
    )
    kept, named = cut(samples, 2, RULE)
    assert named == {("a", "big"), ("b", "mid")}
    got = by_row(kept)
    assert set(got) == {("a", "big"), ("b", "mid"), ("a", "other"), ("b", "other")}
    assert got[("a", "other")] == {"size": 6, "scans": 5}  # its own remainder plus "small"
    assert got[("b", "other")] == {"size": 2, "scans": 5}  # made for "tiny"
    assert got[("a", "big")] == {"size": 100, "scans": 1, "last": 1e9, "valid": 1}


def test_sums_per_database_are_unchanged() -> None:
    samples = rows(*((db, f"t{i}", float(i), float(i * i)) for db in "abc" for i in range(30)))
    got, named = cut(samples, 7, RULE)
    for db in "abc":
        for metric in ("size", "scans"):
            before = sum(s.value for s in samples if s.labels[0] == db and s.metric == metric)
            after = sum(s.value for s in got if s.labels[0] == db and s.metric == metric)
            assert before == after
    assert named == {s.labels for s in got if s.labels[1] != "other"}
    assert len(named) == 7
    assert all(s.metric != "last" for s in got if s.labels[1] == "other")


def test_zero_first_ranks_ahead_of_size() -> None:
    samples = rows(("a", "huge", 1000, 0), ("b", "broken", 1, 0))
    samples = [
        Sample("valid", s.labels, 0) if s.metric == "valid" and s.labels[1] == "broken" else s
        for s in samples
    ]
    kept, named = cut(samples, 1, RULE)
    got = by_row(kept)
    assert named == {("b", "broken")}
    assert ("b", "broken") in got and ("a", "huge") not in got


def test_tables_and_indexes_declare_remainders_matching_their_queries() -> None:
    assert tables.SPEC.remainder is not None and indexes.SPEC.remainder is not None
    assert tables.SPEC.remainder.remainder_of(("db", "s", "t")) == ("db", "", "other")
    assert indexes.SPEC.remainder.remainder_of(("db", "s", "t", "i")) == (
        "db",
        "",
        "other",
        "other",
    )
    for spec in (tables.SPEC, indexes.SPEC):
        rule = spec.remainder
        assert rule is not None
        declared = set(spec.by_name)
        assert set(rule.weight) <= declared and rule.unsummed <= declared
