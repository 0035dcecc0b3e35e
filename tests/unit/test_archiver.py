"""archiver collector: rows in, samples out (no database)."""

from __future__ import annotations

from collections import namedtuple
from decimal import Decimal
from functools import partial

from monitor.collectors import archiver
from tests.collecting import FakeContext, collected

Status = namedtuple(
    "Status",
    "archived_count failed_count last_archive_age last_failed_time archive_mode in_recovery "
    "can_list_status",
)
Pending = namedtuple("Pending", "pending")

NEVER = Status(0, 0, None, None, "off", False, True)
BUSY = Status(120, 3, Decimal("42.5"), Decimal("1700000000.25"), "on", False, True)


read = partial(collected, archiver.SPEC)  # samples -> what a scrape reads


def test_archiving_off() -> None:
    got = read(archiver.archiver_samples([NEVER]))
    assert got.value("pg_stat_archiver_archived_count") == 0
    assert got.value("pg_stat_archiver_failed_count") == 0
    assert got.samples("pg_stat_archiver_last_archive_age") == []  # never archived
    assert got.value("pg_stat_archiver_last_failed_timestamp_seconds") == 0
    assert got.value("pg_archiver_archive_mode", mode="off") == 1
    assert got.value("pg_archiver_archive_mode", mode="on") == 0
    assert got.value("pg_archiver_archive_mode", mode="always") == 0
    assert got.value("pg_archiver_enabled") == 0


def test_archiving_with_failures() -> None:
    got = read(archiver.archiver_samples([BUSY]))
    assert got.value("pg_stat_archiver_archived_count") == 120
    assert got.value("pg_stat_archiver_failed_count") == 3
    assert got.value("pg_stat_archiver_last_archive_age") == 42.5
    assert got.value("pg_stat_archiver_last_failed_timestamp_seconds") == 1700000000.25
    assert got.value("pg_archiver_archive_mode", mode="on") == 1
    assert got.value("pg_archiver_enabled") == 1


def test_enabled_depends_on_recovery() -> None:
    assert not archiver.archiving("on", in_recovery=True)
    assert archiver.archiving("on", in_recovery=False)
    assert archiver.archiving("always", in_recovery=True)
    assert not archiver.archiving("off", in_recovery=False)


def test_unknown_mode_gets_its_own_series() -> None:
    got = read(archiver.archiver_samples([NEVER._replace(archive_mode="sometimes")]))
    assert got.value("pg_archiver_archive_mode", mode="sometimes") == 1
    assert got.total("pg_archiver_archive_mode") == 1


def test_pending_only_when_allowed() -> None:
    ctx = FakeContext({"archiver": [BUSY], "archiver_pending": [Pending(7)]})
    assert read(archiver.collect(ctx)).value("pg_archiver_pending_wal_files") == 7  # type: ignore[arg-type]

    ctx = FakeContext({"archiver": [BUSY._replace(can_list_status=False)]})
    got = read(archiver.collect(ctx))  # type: ignore[arg-type]
    assert "archiver_pending" not in ctx.asked
    assert got.samples("pg_archiver_pending_wal_files") == []
    assert got.value("pg_stat_archiver_archived_count") == 120
