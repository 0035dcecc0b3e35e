"""Snapshots render once; a scrape joins bytes that both formats' parsers accept."""

from __future__ import annotations

import gzip
import math
from collections.abc import Iterable

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from prometheus_client.core import Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from monitor.exposition import render_text
from monitor.metrics import MetricSpec, Sample, build_families, counter, gauge, info
from monitor.snapshot import Snapshot, SnapshotStore

SPECS = {
    m.name: m
    for m in (
        counter("pg_stat_database_xact_commit", "Commits.", "datname"),
        counter("pgmon_collector_errors_total", "Errors.", "collector"),
        gauge("pg_up", "Up."),
    )
}


def snapshot(target: str, commits: float) -> Snapshot:
    samples = [
        Sample("pg_stat_database_xact_commit", ("app",), commits),
        Sample("pgmon_collector_errors_total", ("database",), 2),
        Sample("pg_up", (), 1),
    ]
    return Snapshot(target, "database", SPECS, samples, 0.0)


def test_text_keeps_postgres_exporter_counter_names() -> None:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    text = store.render().decode()
    assert "# TYPE pg_stat_database_xact_commit counter\n" in text
    assert 'pg_stat_database_xact_commit{datname="app",target="a"} 5.0\n' in text
    assert "# TYPE pgmon_collector_errors_total counter\n" in text
    assert "xact_commit_total" not in text


def test_one_header_per_family_across_targets() -> None:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    store.put(snapshot("b", 7))
    text = store.render().decode()
    assert text.count("# TYPE pg_up gauge") == 1
    families = {f.name: f for f in parse_text(text)}
    commits = {
        s.labels["target"]: s.value for s in families["pg_stat_database_xact_commit"].samples
    }
    assert commits == {"a": 5.0, "b": 7.0}


def test_openmetrics_is_valid_and_ends_with_eof() -> None:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    store.put(snapshot("b", 7))
    text = store.render(openmetrics=True).decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_om(text)}
    samples = families["pg_stat_database_xact_commit"].samples
    assert {s.name for s in samples} == {"pg_stat_database_xact_commit_total"}
    assert families["pg_up"].type == "gauge"


def test_gzip_copy_matches_and_is_cached_until_a_snapshot_changes() -> None:
    import gzip

    store = SnapshotStore()
    store.put(snapshot("a", 5))
    body = store.render()
    assert b"".join(store.pieces()) == body
    gzipped = store.gzipped()
    assert gzip.decompress(gzipped) == body
    assert store.gzipped() is gzipped
    store.put(snapshot("a", 6))
    assert b"} 6.0" in gzip.decompress(store.gzipped())


def test_dropping_a_target_removes_its_series() -> None:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    store.put(snapshot("b", 7))
    store.drop_target("a")
    assert b'target="a"' not in store.render()


def test_label_values_are_escaped() -> None:
    specs = {"pg_x": gauge("pg_x", 'Help with "quotes" and \\ backslash\nnewline.', "q")}
    store = SnapshotStore()
    store.put(Snapshot("t", "x", specs, [Sample("pg_x", ('say "hi"\n',), 1)], 0.0))
    (family,) = parse_text(store.render().decode())
    assert family.samples[0].labels["q"] == 'say "hi"\n'


def test_custom_collector_reads_the_same_values_as_the_rendered_bytes() -> None:
    from monitor.snapshot import SnapshotCollector

    store = SnapshotStore()
    store.put(snapshot("a", 5))
    store.put(snapshot("b", 7))
    registry = SnapshotCollector(store).registry()
    assert (
        registry.get_sample_value("pg_stat_database_xact_commit", {"target": "b", "datname": "app"})
        == 7
    )
    # prometheus_client's text parser appends _total to counter samples; Prometheus does not.
    rendered = {
        (s.name.removesuffix("_total"), tuple(sorted(s.labels.items())), s.value)
        for family in parse_text(store.render().decode())
        for s in family.samples
    }
    collected = {
        (s.name.removesuffix("_total"), tuple(sorted(s.labels.items())), s.value)
        for family in registry.collect()
        for s in family.samples
    }
    assert rendered == collected


class _Registry:
    def __init__(self, specs: dict[str, MetricSpec], target: str, samples: list[Sample]) -> None:
        self._families = build_families(specs, target, samples)

    def collect(self):  # type: ignore[no-untyped-def]
        return self._families


def _bodies(rendered: bytes) -> bytes:
    # Lines end at \n only: a label value may hold a raw \r, which the format allows.
    lines = rendered.split(b"\n")
    return b"".join(line + b"\n" for line in lines[:-1] if not line.startswith(b"#"))


def _reference(specs: dict[str, MetricSpec], target: str, samples: list[Sample]) -> bytes:
    """prometheus_client's own text output for the same samples (headers aside: it names a
    counter's TYPE line `<name>_total`, see monitor.exposition.render_text)."""
    return _bodies(generate_latest(_Registry(specs, target, samples)))  # type: ignore[arg-type]


def _ours(specs: dict[str, MetricSpec], target: str, samples: list[Sample]) -> bytes:
    return b"".join(f.body for f in render_text(specs, target, samples).fragments.values())


LABELLED = {
    m.name: m
    for m in (
        counter("pg_stat_user_tables_seq_scan", "Scans.", "datname", "schemaname", "relname"),
        gauge("pg_zeta", "Sorted after target.", "zz", "aa"),
        gauge("pg_bare", "No labels but target."),
        info("pg_thing_info", "Info.", "version"),
    )
}

label_value = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=80)
value = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**63), max_value=2**63).map(float),
)


@settings(max_examples=300, deadline=None)
@given(
    target=label_value,
    rows=st.lists(st.tuples(label_value, label_value, label_value, value), max_size=8),
    extra=value,
)
@example(target="", rows=[("", "", "\r#", 0.0)], extra=0.0)
def test_text_matches_prometheus_client_byte_for_byte(
    target: str, rows: list[tuple[str, str, str, float]], extra: float
) -> None:
    samples = [Sample("pg_stat_user_tables_seq_scan", (a, b, c), v) for a, b, c, v in rows]
    samples += [Sample("pg_zeta", (a, c), v) for a, _, c, v in rows]
    samples += [Sample("pg_bare", (), extra), Sample("pg_thing_info", (target,), 1)]
    assert _ours(LABELLED, target, samples) == _reference(LABELLED, target, samples)


@settings(max_examples=200, deadline=None)
@given(values=st.lists(label_value, min_size=3, max_size=3), target=label_value)
def test_any_label_value_parses_back_unchanged(values: list[str], target: str) -> None:
    samples = [Sample("pg_stat_user_tables_seq_scan", tuple(values), 1)]
    store = SnapshotStore()
    store.put(Snapshot(target, "tables", LABELLED, samples, 0.0))
    (family,) = parse_text(store.render().decode())
    (sample,) = family.samples
    assert sample.labels == {
        "target": target,
        "datname": values[0],
        "schemaname": values[1],
        "relname": values[2],
    }


def _read_back(families: Iterable[Metric]) -> set[tuple[str, frozenset[tuple[str, str]]]]:
    return {
        (sample.name, frozenset(sample.labels.items()))
        for family in families
        for sample in family.samples
    }


@settings(max_examples=200, deadline=None)
@given(
    targets=st.lists(label_value, min_size=1, max_size=3, unique=True),
    rows=st.lists(st.tuples(label_value, label_value, label_value), max_size=4, unique=True),
    version=label_value,
)
def test_label_values_read_back_from_every_format_of_a_scrape(
    targets: list[str], rows: list[tuple[str, str, str]], version: str
) -> None:
    """Several targets, as a scrape joins them: the text format, its gzip copy and
    OpenMetrics all read back to the same label values."""
    store = SnapshotStore()
    expected = set()
    for target in targets:
        samples = [Sample("pg_stat_user_tables_seq_scan", row, 1) for row in rows]
        samples.append(Sample("pg_thing_info", (version,), 1))
        store.put(Snapshot(target, "tables", LABELLED, samples, 0.0))
        for datname, schemaname, relname in rows:
            labels = {"target": target, "datname": datname}
            labels |= {"schemaname": schemaname, "relname": relname}
            expected.add(("pg_stat_user_tables_seq_scan", frozenset(labels.items())))
        expected.add(("pg_thing_info", frozenset({"target": target, "version": version}.items())))
    text = store.render()
    assert gzip.decompress(store.gzipped()) == text
    # prometheus_client's parsers name counter samples <family>_total.
    renamed = {(name.replace("seq_scan", "seq_scan_total"), labels) for name, labels in expected}
    assert _read_back(parse_text(text.decode())) == renamed
    assert _read_back(parse_om(store.render(openmetrics=True).decode())) == renamed


def test_special_values_are_written_as_prometheus_reads_them() -> None:
    values = (math.inf, -math.inf, math.nan, 1e20, 0.5, 0.0, -0.0, 0, math.nan, -0.0, 0.0)
    samples = [Sample("pg_bare", (), v) for v in values]
    body = _ours(LABELLED, "t", samples).decode()
    assert body == _reference(LABELLED, "t", samples).decode()
    assert body.split("\n")[:-1] == [
        f'pg_bare{{target="t"}} {v}'
        for v in ("+Inf", "-Inf", "NaN", "1e+20", "0.5", "0.0", "-0.0", "0.0", "NaN", "-0.0", "0.0")
    ]


def test_undeclared_metric_or_wrong_label_count_is_refused() -> None:
    with pytest.raises(KeyError):
        render_text(LABELLED, "t", [Sample("pg_nope", (), 1)])
    with pytest.raises(ValueError):
        render_text(LABELLED, "t", [Sample("pg_zeta", ("only one",), 1)])
