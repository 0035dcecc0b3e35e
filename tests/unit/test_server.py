"""server: settings pending a restart as a count; rows kept for the findings."""

from __future__ import annotations

from collections import namedtuple

from monitor.collectors import server
from monitor.metrics import Sample
from tests.collecting import FakeContext

Setting = namedtuple("Setting", "name setting unit context")
Loaded = namedtuple("Loaded", "loaded_at")


def test_pending_settings_are_counted_and_kept() -> None:
    pending = [Setting("max_connections", "100", None, "postmaster")]
    ctx = FakeContext(
        {
            "server_conf_loaded": [Loaded(1.0)],
            "server_settings": pending,
            "server_stats_reset": ["r"],
            "statements_available": ["a"],
        }
    )
    samples = list(server.collect(ctx))  # type: ignore[arg-type]
    assert samples == [Sample("pg_settings_pending_restart_settings", (), 1.0)]
    assert ctx.kept == {
        "server_settings": pending,
        "server_stats_reset": ["r"],
        "statements_available": ["a"],
    }
    # Until the configuration is loaded again, the settings are not read again.
    ctx.kept = {}
    assert list(server.collect(ctx)) == samples  # type: ignore[arg-type]
    assert ctx.kept["server_settings"] == pending
    assert ctx.asked.count("server_settings") == 1
    ctx.rows["server_conf_loaded"] = [Loaded(2.0)]
    ctx.rows["server_settings"] = []
    assert list(server.collect(ctx)) == [  # type: ignore[arg-type]
        Sample("pg_settings_pending_restart_settings", (), 0.0)
    ]
    assert ctx.asked.count("server_settings") == 2


def test_nothing_pending_reads_zero() -> None:
    assert list(server.pending_samples([])) == [
        Sample("pg_settings_pending_restart_settings", (), 0.0)
    ]
