"""Snapshots render once; a scrape joins bytes that both formats' parsers accept."""

from __future__ import annotations

from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_om
from prometheus_client.parser import text_string_to_metric_families as parse_text

from monitor.metrics import Sample, build_families, counter, gauge
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
    return Snapshot(target, "database", build_families(SPECS, target, samples), 0.0)


def test_text_keeps_postgres_exporter_counter_names() -> None:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    text = store.render()[0].decode()
    assert "# TYPE pg_stat_database_xact_commit counter\n" in text
    assert 'pg_stat_database_xact_commit{datname="app",target="a"} 5.0\n' in text
    assert "# TYPE pgmon_collector_errors_total counter\n" in text
    assert "xact_commit_total" not in text


def test_one_header_per_family_across_targets() -> None:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    store.put(snapshot("b", 7))
    text = store.render()[0].decode()
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
    text = store.render(openmetrics=True)[0].decode()
    assert text.endswith("# EOF\n")
    families = {f.name: f for f in parse_om(text)}
    samples = families["pg_stat_database_xact_commit"].samples
    assert {s.name for s in samples} == {"pg_stat_database_xact_commit_total"}
    assert families["pg_up"].type == "gauge"


def test_render_is_cached_until_a_snapshot_changes() -> None:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    first = store.render()
    assert store.render() is not first and store.render()[0] is first[0]
    store.put(snapshot("a", 6))
    assert b"} 6.0" in store.render()[0]


def test_gzip_copy_matches() -> None:
    import gzip

    store = SnapshotStore()
    store.put(snapshot("a", 5))
    body, gzipped = store.render()
    assert gzip.decompress(gzipped) == body


def test_dropping_a_target_removes_its_series() -> None:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    store.put(snapshot("b", 7))
    store.drop_target("a")
    assert b'target="a"' not in store.render()[0]


def test_label_values_are_escaped() -> None:
    specs = {"pg_x": gauge("pg_x", 'Help with "quotes" and \\ backslash\nnewline.', "q")}
    families = build_families(specs, "t", [Sample("pg_x", ('say "hi"\n',), 1)])
    store = SnapshotStore()
    store.put(Snapshot("t", "x", families, 0.0))
    (family,) = parse_text(store.render()[0].decode())
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
        for family in parse_text(store.render()[0].decode())
        for s in family.samples
    }
    collected = {
        (s.name.removesuffix("_total"), tuple(sorted(s.labels.items())), s.value)
        for family in registry.collect()
        for s in family.samples
    }
    assert rendered == collected
