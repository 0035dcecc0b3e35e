"""Wording shared by the checks: durations and sizes as a DBA reads them in a message."""

from __future__ import annotations

GIB = 1024**3
_SIZE_UNITS = ("bytes", "kB", "MB", "GB", "TB")  # Postgres's pg_size_pretty units (1024)


def duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 2 * 86400:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def size(nbytes: float) -> str:
    value = float(nbytes)
    for unit in _SIZE_UNITS[:-1]:
        if abs(value) < 1024:
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} {_SIZE_UNITS[-1]}"
