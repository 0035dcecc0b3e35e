"""Human-friendly durations ("250ms", "15s", "5m", "1h" or a bare number of seconds)."""

import re
from typing import Annotated

from pydantic import BeforeValidator, Field

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_seconds(value: object) -> object:
    """Turn a duration string into seconds; leave anything else for pydantic to judge."""
    if isinstance(value, str):
        match = _DURATION.match(value)
        if match is None:
            raise ValueError(f"{value!r} is not a duration (examples: 250ms, 15s, 5m, 1h)")
        return float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return value


# A year: longer is a typo, and would overflow the scheduler's date arithmetic.
MAX_SECONDS = 365 * 24 * 3600.0

Seconds = Annotated[
    float, Field(gt=0, le=MAX_SECONDS, allow_inf_nan=False), BeforeValidator(parse_seconds)
]


def format_seconds(seconds: float) -> str:
    if seconds < 1:
        return f"{seconds * 1000:g}ms"
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
