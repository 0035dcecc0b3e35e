"""replication collector: rows in, samples out (no database)."""

from __future__ import annotations

from collections import namedtuple
from decimal import Decimal
from functools import partial

from monitor.collectors import replication
from tests.collecting import FakeContext, collected

Server = namedtuple(
    "Server",
    "in_recovery lag_seconds last_replay_seconds replay_lag_bytes wal_keep_size_bytes "
    "max_slot_wal_keep_size_bytes",
)
Standby = namedtuple(
    "Standby",
    "application_name client_addr state sync_state slot_name sent_lag_bytes write_lag_bytes "
    "flush_lag_bytes replay_lag_bytes write_lag_seconds flush_lag_seconds replay_lag_seconds "
    "reply_time pg_current_wal_lsn_bytes pg_wal_lsn_diff",
)
Slot = namedtuple(
    "Slot",
    "slot_name slot_type database active wal_status safe_wal_size retained_bytes "
    "confirmed_flush_lag_bytes",
)
Receiver = namedtuple("Receiver", "status last_msg_receipt_age_seconds")

PRIMARY = Server(False, Decimal(0), None, None, 0, -1)
STANDBY_ROW = Standby(
    "replica1", "10.0.0.2", "streaming", "async", "slot1",
    Decimal(0), Decimal(100), Decimal(200), Decimal(4096),
    Decimal("0.5"), Decimal("0.75"), Decimal("1.25"), Decimal("1700000000.5"),
    Decimal(50331648), Decimal(4096),
)  # fmt: skip


read = partial(collected, replication.SPEC)  # samples -> what a scrape reads


def test_primary_server_row() -> None:
    got = read(replication.server_samples([PRIMARY]))
    assert got.value("pg_replication_is_replica") == 0
    assert got.value("pg_replication_lag_seconds") == 0
    assert got.value("pg_settings_wal_keep_size_bytes") == 0
    assert got.value("pg_settings_max_slot_wal_keep_size_bytes") == -1
    # Standby-only values are NULL on a primary and must not appear as 0.
    assert got.samples("pg_replication_last_replay_seconds") == []
    assert got.samples("pg_replication_replay_lag_bytes") == []


def test_standby_server_row() -> None:
    row = Server(True, Decimal("12.5"), Decimal("12.5"), Decimal(8192), 1073741824, 10737418240)
    got = read(replication.server_samples([row]))
    assert got.value("pg_replication_is_replica") == 1
    assert got.value("pg_replication_lag_seconds") == 12.5
    assert got.value("pg_replication_last_replay_seconds") == 12.5
    assert got.value("pg_replication_replay_lag_bytes") == 8192
    assert got.value("pg_settings_wal_keep_size_bytes") == 1073741824


def test_standby_lag_and_exporter_names() -> None:
    got = read(replication.standby_samples([STANDBY_ROW]))
    who = {"application_name": "replica1", "client_addr": "10.0.0.2"}
    assert got.value("pg_stat_replication_sent_lag_bytes", **who) == 0
    assert got.value("pg_stat_replication_write_lag_bytes", **who) == 100
    assert got.value("pg_stat_replication_flush_lag_bytes", **who) == 200
    assert got.value("pg_stat_replication_replay_lag_bytes", **who) == 4096
    assert got.value("pg_stat_replication_write_lag_seconds", **who) == 0.5
    assert got.value("pg_stat_replication_flush_lag_seconds", **who) == 0.75
    assert got.value("pg_stat_replication_replay_lag_seconds", **who) == 1.25
    exporter = {**who, "state": "streaming", "slot_name": "slot1"}
    assert got.value("pg_stat_replication_pg_current_wal_lsn_bytes", **exporter) == 50331648
    assert got.value("pg_stat_replication_pg_wal_lsn_diff", **exporter) == 4096
    assert got.value("pg_stat_replication_reply_time", **exporter) == 1700000000.5


def test_standby_states_are_enumerated() -> None:
    got = read(replication.standby_samples([STANDBY_ROW._replace(state="catchup")]))
    states = {lbl["state"]: v for lbl, v in got.samples("pg_stat_replication_state")}
    assert states == {"startup": 0, "catchup": 1, "streaming": 0, "backup": 0, "stopping": 0}
    sync = {lbl["sync_state"]: v for lbl, v in got.samples("pg_stat_replication_sync_state")}
    assert sync == {"async": 1, "potential": 0, "sync": 0, "quorum": 0}


def test_unknown_state_gets_its_own_series() -> None:
    got = read(replication.standby_samples([STANDBY_ROW._replace(state="dreaming")]))
    states = {lbl["state"]: v for lbl, v in got.samples("pg_stat_replication_state")}
    assert states["dreaming"] == 1
    assert sum(states.values()) == 1


def test_unmeasured_lag_and_missing_slot() -> None:
    # A base backup's sender: no slot, no client address over a socket, no replay position.
    row = STANDBY_ROW._replace(
        application_name="pg_basebackup", client_addr=None, state="backup", slot_name=None,
        replay_lag_bytes=None, replay_lag_seconds=None, pg_wal_lsn_diff=None,
    )  # fmt: skip
    got = read(replication.standby_samples([row]))
    assert got.samples("pg_stat_replication_replay_lag_bytes") == []
    assert got.samples("pg_stat_replication_replay_lag_seconds") == []
    assert got.samples("pg_stat_replication_pg_wal_lsn_diff") == []
    backup = {"application_name": "pg_basebackup", "client_addr": "", "state": "backup"}
    assert got.value("pg_stat_replication_pg_current_wal_lsn_bytes", **backup, slot_name="") == (
        50331648
    )


def test_senders_sharing_name_and_address_make_one_series() -> None:
    second = STANDBY_ROW._replace(state="backup", replay_lag_bytes=Decimal(1))
    got = read(replication.standby_samples([STANDBY_ROW, second]))
    replay = got.samples("pg_stat_replication_replay_lag_bytes")
    assert [v for _, v in replay] == [4096]
    assert got.total("pg_stat_replication_state") == 1


def test_slots() -> None:
    rows = [
        Slot("replica1", "physical", None, True, "reserved", None, Decimal(0), None),
        Slot("stale", "physical", None, False, "extended", 1048576, Decimal(123456), None),
        Slot("cdc", "logical", "app", True, "reserved", None, Decimal(5000), Decimal(300)),
        Slot("gone", "physical", None, False, "lost", None, None, None),
    ]
    got = read(replication.slot_samples(rows))
    assert got.value("pg_replication_slots_active", slot_name="replica1", database="") == 1
    assert got.value("pg_replication_slots_active", slot_name="stale", database="") == 0
    assert got.value("pg_replication_slots_pg_wal_lsn_diff", slot_name="stale", database="") == (
        123456
    )
    assert got.value("pg_replication_slots_pg_wal_lsn_diff", slot_name="cdc", database="app") == (
        5000
    )
    lost = {"slot_name": "gone", "slot_type": "physical", "wal_status": "lost"}
    assert got.value("pg_replication_slots_wal_status", **lost) == 1
    # safe_wal_size only exists when max_slot_wal_keep_size limits the slot.
    safe = got.samples("pg_replication_slots_safe_wal_size_bytes")
    assert [(lbl["slot_name"], v) for lbl, v in safe] == [("stale", 1048576)]
    flush = got.samples("pg_replication_slots_confirmed_flush_lag_bytes")
    assert [(lbl["slot_name"], v) for lbl, v in flush] == [("cdc", 300)]
    assert got.samples("pg_replication_slots_pg_wal_lsn_diff")[-1][0]["slot_name"] == "cdc"


def test_receiver_streaming() -> None:
    got = read(replication.receiver_samples([Receiver("streaming", Decimal("0.4"))]))
    assert got.value("pg_stat_wal_receiver_status", status="streaming") == 1
    assert got.value("pg_stat_wal_receiver_status", status="waiting") == 0
    assert got.value("pg_stat_wal_receiver_connected") == 1
    assert got.value("pg_stat_wal_receiver_last_msg_receipt_age_seconds") == 0.4


def test_receiver_not_running() -> None:
    got = read(replication.receiver_samples([]))
    assert got.total("pg_stat_wal_receiver_status") == 0
    assert len(got.samples("pg_stat_wal_receiver_status")) == len(replication.RECEIVER_STATES)
    assert got.value("pg_stat_wal_receiver_connected") == 0
    assert got.samples("pg_stat_wal_receiver_last_msg_receipt_age_seconds") == []


def test_primary_does_not_ask_for_the_wal_receiver() -> None:
    ctx = FakeContext(
        {"replication": [PRIMARY], "replication_standbys": [STANDBY_ROW], "replication_slots": []}
    )
    samples = list(replication.collect(ctx))  # type: ignore[arg-type]
    assert "replication_receiver" not in ctx.asked
    assert not any(s.metric.startswith("pg_stat_wal_receiver") for s in samples)


def test_standby_reports_its_wal_receiver() -> None:
    ctx = FakeContext(
        {
            "replication": [PRIMARY._replace(in_recovery=True)],
            "replication_standbys": [],
            "replication_slots": [],
            "replication_receiver": [Receiver("streaming", Decimal(1))],
        }
    )
    got = read(replication.collect(ctx))  # type: ignore[arg-type]
    assert got.value("pg_stat_wal_receiver_connected") == 1


def test_every_metric_is_declared_once_with_known_labels() -> None:
    names = [m.name for m in replication.METRICS]
    assert len(names) == len(set(names))
    assert all(m.name.startswith("pg_") for m in replication.METRICS)
