"""wal collector: rows in, samples out (no database)."""

from __future__ import annotations

from collections import namedtuple
from decimal import Decimal
from functools import partial

from monitor.collectors import wal
from tests.collecting import FakeContext, collected

Position = namedtuple("Position", "lsn_location_bytes receive_lsn_bytes can_list_waldir")
Directory = namedtuple("Directory", "segments size_bytes")
Stats = namedtuple(
    "Stats",
    "wal_records wal_fpi wal_bytes wal_buffers_full wal_write wal_sync wal_write_time "
    "wal_sync_time stats_reset",
)

PRIMARY = Position(Decimal(50433872), None, True)
STATS = Stats(25354, 490, Decimal(5392276), 3188, 3945, 12, 1.5, 0.25, Decimal("1700000000.5"))


read = partial(collected, wal.SPEC)  # samples -> what a scrape reads


def test_position_on_a_primary() -> None:
    got = read(wal.position_samples([PRIMARY]))
    assert got.value("pg_wal_lsn_location_bytes") == 50433872
    assert got.samples("pg_wal_receive_lsn_bytes") == []


def test_position_on_a_standby() -> None:
    got = read(wal.position_samples([Position(Decimal(4096), Decimal(8192), True)]))
    assert got.value("pg_wal_lsn_location_bytes") == 4096
    assert got.value("pg_wal_receive_lsn_bytes") == 8192


def test_directory() -> None:
    got = read(wal.directory_samples([Directory(3, Decimal(50331648))]))
    assert got.value("pg_wal_segments") == 3
    assert got.value("pg_wal_size_bytes") == 50331648


def test_stats_keep_exporter_names_and_units() -> None:
    got = read(wal.stats_samples([STATS]))
    assert got.value("pg_stat_wal_wal_records") == 25354
    assert got.value("pg_stat_wal_wal_fpi") == 490
    assert got.value("pg_stat_wal_wal_bytes") == 5392276
    assert got.value("pg_stat_wal_wal_buffers_full") == 3188
    assert got.value("pg_stat_wal_wal_write") == 3945
    assert got.value("pg_stat_wal_wal_sync") == 12
    assert got.value("pg_stat_wal_wal_write_time") == 1.5
    assert got.value("pg_stat_wal_wal_sync_time") == 0.25
    assert got.value("pg_stat_wal_stats_reset") == 1700000000.5


def test_pg13_has_no_stats() -> None:
    assert list(wal.stats_samples([])) == []


def test_pg13_and_no_waldir_privilege_still_give_the_position() -> None:
    ctx = FakeContext({"wal": [PRIMARY._replace(can_list_waldir=False)], "wal_stats": []})
    got = read(wal.collect(ctx))  # type: ignore[arg-type]
    assert "wal_directory" not in ctx.asked
    assert got.value("pg_wal_lsn_location_bytes") == 50433872
    assert got.samples("pg_wal_segments") == []


def test_everything() -> None:
    ctx = FakeContext(
        {"wal": [PRIMARY], "wal_stats": [STATS], "wal_directory": [Directory(2, 33554432)]}
    )
    got = read(wal.collect(ctx))  # type: ignore[arg-type]
    assert got.value("pg_wal_segments") == 2
    assert got.value("pg_stat_wal_wal_bytes") == 5392276
