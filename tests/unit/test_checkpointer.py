"""checkpointer collector: rows in, samples out (no database)."""

from __future__ import annotations

from collections import namedtuple
from decimal import Decimal
from functools import partial

from monitor.collectors import checkpointer
from tests.collecting import FakeContext, collected

BgwriterCheckpoints = namedtuple(
    "BgwriterCheckpoints",
    "checkpoints_timed checkpoints_req checkpoint_write_time checkpoint_sync_time "
    "buffers_checkpoint buffers_backend buffers_backend_fsync",
)
Checkpointer = namedtuple(
    "Checkpointer",
    "num_timed num_requested num_done restartpoints_timed restartpoints_req restartpoints_done "
    "write_time sync_time buffers_written slru_written stats_reset",
)
Bgwriter = namedtuple("Bgwriter", "buffers_clean maxwritten_clean buffers_alloc stats_reset")

PG16_CHECKPOINTS = BgwriterCheckpoints(10, 3, 1234.5, 6.5, 500, 20, 0)
PG17_CHECKPOINTER = Checkpointer(10, 3, None, 1, 2, 3, 1234.5, 6.5, 500, None, None)
BGWRITER = Bgwriter(7, 1, 900, Decimal("1700000000.5"))


read = partial(collected, checkpointer.SPEC)  # samples -> what a scrape reads


def test_pg13_to_16_reads_pg_stat_bgwriter() -> None:
    got = read(checkpointer.bgwriter_checkpoint_samples([PG16_CHECKPOINTS]))
    assert got.value("pg_stat_bgwriter_checkpoints_timed_total") == 10
    assert got.value("pg_stat_bgwriter_checkpoints_req_total") == 3
    assert got.value("pg_stat_bgwriter_checkpoint_write_time_total") == 1234.5  # ms, as upstream
    assert got.value("pg_stat_bgwriter_checkpoint_sync_time_total") == 6.5
    assert got.value("pg_stat_bgwriter_buffers_checkpoint_total") == 500
    assert got.value("pg_stat_bgwriter_buffers_backend_total") == 20
    assert got.value("pg_stat_bgwriter_buffers_backend_fsync_total") == 0


def test_pg17_reads_pg_stat_checkpointer() -> None:
    got = read(checkpointer.checkpointer_samples([PG17_CHECKPOINTER]))
    assert got.value("pg_stat_checkpointer_num_timed_total") == 10
    assert got.value("pg_stat_checkpointer_num_requested_total") == 3
    assert got.value("pg_stat_checkpointer_restartpoints_timed_total") == 1
    assert got.value("pg_stat_checkpointer_restartpoints_req_total") == 2
    assert got.value("pg_stat_checkpointer_restartpoints_done_total") == 3
    assert got.value("pg_stat_checkpointer_write_time_total") == 1234.5
    assert got.value("pg_stat_checkpointer_buffers_written_total") == 500
    assert got.value("pg_stat_checkpointer_stats_reset_total") == 0  # never reset
    # PG18 columns are NULL on PG17: no sample rather than a fake 0.
    assert got.samples("pg_stat_checkpointer_num_done_total") == []
    assert got.samples("pg_stat_checkpointer_slru_written_total") == []


def test_pg18_columns() -> None:
    row = PG17_CHECKPOINTER._replace(num_done=12, slru_written=4, stats_reset=Decimal(1700000000))
    got = read(checkpointer.checkpointer_samples([row]))
    assert got.value("pg_stat_checkpointer_num_done_total") == 12
    assert got.value("pg_stat_checkpointer_slru_written_total") == 4
    assert got.value("pg_stat_checkpointer_stats_reset_total") == 1700000000


def test_bgwriter() -> None:
    got = read(checkpointer.bgwriter_samples([BGWRITER]))
    assert got.value("pg_stat_bgwriter_buffers_clean_total") == 7
    assert got.value("pg_stat_bgwriter_maxwritten_clean_total") == 1
    assert got.value("pg_stat_bgwriter_buffers_alloc_total") == 900
    assert got.value("pg_stat_bgwriter_stats_reset_total") == 1700000000.5


def test_version_picks_the_view() -> None:
    old = FakeContext(
        {"checkpointer": [PG16_CHECKPOINTS], "checkpointer_bgwriter": [BGWRITER]}, 160000
    )
    names = {s.metric for s in checkpointer.collect(old)}  # type: ignore[arg-type]
    assert "pg_stat_bgwriter_checkpoints_req_total" in names
    assert not any(name.startswith("pg_stat_checkpointer") for name in names)

    new = FakeContext(
        {"checkpointer": [PG17_CHECKPOINTER], "checkpointer_bgwriter": [BGWRITER]}, 170000
    )
    names = {s.metric for s in checkpointer.collect(new)}  # type: ignore[arg-type]
    assert "pg_stat_checkpointer_num_requested_total" in names
    assert "pg_stat_bgwriter_buffers_clean_total" in names
    assert "pg_stat_bgwriter_checkpoints_req_total" not in names


def test_declarations() -> None:
    specs = checkpointer.SPEC.by_name
    assert all(spec.kind == "counter" and spec.labels == () for spec in specs.values())
    assert specs["pg_stat_checkpointer_num_done_total"].min_version == 180000
    assert specs["pg_stat_checkpointer_num_timed_total"].min_version == 170000
