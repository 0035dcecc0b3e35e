"""checkpointer: checkpoints and restartpoints, and the background writer's buffer counters."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from monitor.collectors.base import CollectorSpec, Row, RunContext, samples_from_rows
from monitor.metrics import MetricSpec, Sample, counter

PG17 = 170000
PG18 = 180000

# All names as postgres_exporter exports them: counters with `_total`, times in ms.
# PG13-16: checkpoint columns of pg_stat_bgwriter. column -> help
BGWRITER_CHECKPOINT_COLUMNS: dict[str, str] = {
    "checkpoints_timed": "Scheduled checkpoints performed (PG13-16; restartpoints included).",
    "checkpoints_req": "Requested checkpoints performed (PG13-16; restartpoints included).",
    "checkpoint_write_time": "Time spent writing files during checkpoints, in milliseconds.",
    "checkpoint_sync_time": "Time spent syncing files during checkpoints, in milliseconds.",
    "buffers_checkpoint": "Buffers written during checkpoints.",
    "buffers_backend": "Buffers written directly by backends (PG13-16).",
    "buffers_backend_fsync": "Times a backend had to fsync itself (PG13-16).",
}
BGWRITER_COLUMNS: dict[str, str] = {
    "buffers_clean": "Buffers written by the background writer.",
    "maxwritten_clean": "Times the background writer stopped a round for writing too many buffers.",
    "buffers_alloc": "Buffers allocated.",
}
# PG17+: pg_stat_checkpointer. column -> (help, min_version)
CHECKPOINTER_COLUMNS: dict[str, tuple[str, int]] = {
    "num_timed": ("Checkpoints scheduled because checkpoint_timeout elapsed.", PG17),
    "num_requested": ("Checkpoints requested (CHECKPOINT, max_wal_size, ...).", PG17),
    "num_done": ("Checkpoints performed.", PG18),
    "restartpoints_timed": ("Restartpoints scheduled by timeout (standbys).", PG17),
    "restartpoints_req": ("Restartpoints requested (standbys).", PG17),
    "restartpoints_done": ("Restartpoints performed (standbys).", PG17),
    "write_time": (
        "Time spent writing files during checkpoints and restartpoints, in milliseconds.",
        PG17,
    ),
    "sync_time": (
        "Time spent syncing files during checkpoints and restartpoints, in milliseconds.",
        PG17,
    ),
    "buffers_written": ("Shared buffers written by checkpoints and restartpoints.", PG17),
    "slru_written": ("SLRU buffers written by checkpoints and restartpoints.", PG18),
}


def has_checkpointer_view(server_version: int) -> bool:
    """PG17 moved the checkpoint counters from pg_stat_bgwriter to pg_stat_checkpointer."""
    return server_version >= PG17


METRICS: tuple[MetricSpec, ...] = (
    *(
        counter(f"pg_stat_bgwriter_{column}_total", text, removed_in=PG17)
        for column, text in BGWRITER_CHECKPOINT_COLUMNS.items()
    ),
    *(
        counter(f"pg_stat_bgwriter_{column}_total", text)
        for column, text in BGWRITER_COLUMNS.items()
    ),
    counter(
        "pg_stat_bgwriter_stats_reset_total",
        "Unix time pg_stat_bgwriter was last reset (0: never).",
    ),
    *(
        counter(f"pg_stat_checkpointer_{column}_total", text, min_version=version)
        for column, (text, version) in CHECKPOINTER_COLUMNS.items()
    ),
    counter(
        "pg_stat_checkpointer_stats_reset_total",
        "Unix time pg_stat_checkpointer was last reset (0: never).",
        min_version=PG17,
    ),
)


def bgwriter_checkpoint_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    """PG13-16: the checkpoint columns of pg_stat_bgwriter."""
    return samples_from_rows(
        rows,
        (),
        {column: f"pg_stat_bgwriter_{column}_total" for column in BGWRITER_CHECKPOINT_COLUMNS},
    )


def checkpointer_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    """PG17+: pg_stat_checkpointer (columns a version lacks are NULL and skipped)."""
    yield from samples_from_rows(
        rows,
        (),
        {column: f"pg_stat_checkpointer_{column}_total" for column in CHECKPOINTER_COLUMNS},
    )
    for row in rows:
        yield Sample("pg_stat_checkpointer_stats_reset_total", (), float(row.stats_reset or 0))


def bgwriter_samples(rows: Sequence[Row]) -> Iterable[Sample]:
    yield from samples_from_rows(
        rows, (), {column: f"pg_stat_bgwriter_{column}_total" for column in BGWRITER_COLUMNS}
    )
    for row in rows:
        # postgres_exporter reports never-reset statistics as 0 rather than leaving them out.
        yield Sample("pg_stat_bgwriter_stats_reset_total", (), float(row.stats_reset or 0))


def collect(ctx: RunContext) -> Iterable[Sample]:
    checkpoints = ctx.fetch("checkpointer")
    if has_checkpointer_view(ctx.server_version):
        yield from checkpointer_samples(checkpoints)
    else:
        yield from bgwriter_checkpoint_samples(checkpoints)
    yield from bgwriter_samples(ctx.fetch("checkpointer_bgwriter"))


SPEC = CollectorSpec(
    name="checkpointer",
    description="Checkpoints and restartpoints (pg_stat_bgwriter, pg_stat_checkpointer on PG17+), "
    "background writer buffers.",
    metrics=METRICS,
    queries=("checkpointer", "checkpointer_bgwriter"),
    collect=collect,
    interval=30.0,
    timeout=10.0,
)
