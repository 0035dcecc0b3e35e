"""Content negotiation: text unless OpenMetrics is both asked for and enabled."""

from __future__ import annotations

import urllib.request

import pytest

from monitor.http import HttpServer
from monitor.snapshot import SnapshotStore
from tests.unit.test_exposition import snapshot

PROMETHEUS_ACCEPT = (
    "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;"
    "q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
)


def serve(openmetrics: bool) -> HttpServer:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    server = HttpServer("127.0.0.1", 0, store, lambda: (True, "ready"), lambda: b"[]", openmetrics)
    server.start()
    return server


def fetch(server: HttpServer) -> tuple[str, str]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}/metrics", headers={"Accept": PROMETHEUS_ACCEPT}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.headers["Content-Type"], response.read().decode()


@pytest.mark.parametrize("openmetrics", [False, True])
def test_prometheus_gets_openmetrics_only_when_enabled(openmetrics: bool) -> None:
    server = serve(openmetrics)
    try:
        content_type, body = fetch(server)
    finally:
        server.stop()
    if openmetrics:
        assert content_type.startswith("application/openmetrics-text")
        assert body.endswith("# EOF\n")
        assert 'pg_stat_database_xact_commit_total{datname="app",target="a"} 5.0' in body
    else:
        assert content_type.startswith("text/plain; version=0.0.4")
        assert 'pg_stat_database_xact_commit{datname="app",target="a"} 5.0' in body


def test_healthcheck_command_follows_the_listen_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.cli import main

    server = serve(openmetrics=False)
    try:
        monkeypatch.setenv("PGMON_LISTEN", f"0.0.0.0:{server.port}")
        assert main(["healthcheck"]) == 0
    finally:
        server.stop()
    assert main(["healthcheck"]) == 1  # nothing listens there any more


def test_a_large_exposition_arrives_whole_plain_gzipped_and_by_head() -> None:
    import gzip

    from monitor.http import CHUNK_BYTES
    from monitor.metrics import Sample
    from monitor.snapshot import Snapshot
    from tests.unit.test_exposition import SPECS

    store = SnapshotStore()
    samples = [
        Sample("pg_stat_database_xact_commit", (f"database_{i:06d}",), float(i))
        for i in range(60_000)
    ]
    store.put(Snapshot("a", "database", SPECS, samples, 0.0))
    expected = store.render()
    assert len(expected) > 2 * CHUNK_BYTES  # sent in several writes
    server = HttpServer("127.0.0.1", 0, store, lambda: (True, "ready"), lambda: b"[]", False)
    server.start()
    url = f"http://127.0.0.1:{server.port}/metrics"
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            assert int(response.headers["Content-Length"]) == len(expected)
            assert response.read() == expected
        gzipped = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
        with urllib.request.urlopen(gzipped, timeout=10) as response:
            assert response.headers["Content-Encoding"] == "gzip"
            assert gzip.decompress(response.read()) == expected
        head = urllib.request.Request(url, method="HEAD")
        with urllib.request.urlopen(head, timeout=10) as response:
            assert int(response.headers["Content-Length"]) == len(expected)
            assert response.read() == b""
    finally:
        server.stop()
