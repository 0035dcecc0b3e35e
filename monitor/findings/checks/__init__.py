"""Every heuristic, one module per family of checks; each module exports CHECKS."""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from monitor.findings.model import CheckSpec


@cache
def all_checks() -> tuple[CheckSpec, ...]:
    """Found by module, in name order, so adding a family of checks touches one file."""
    found: list[CheckSpec] = []
    for module in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        loaded = importlib.import_module(f"{__name__}.{module.name}")
        found.extend(getattr(loaded, "CHECKS", ()))
    ids = [check.id for check in found]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"check ids declared twice: {', '.join(duplicates)}")
    return tuple(found)


def by_id() -> dict[str, CheckSpec]:
    return {check.id: check for check in all_checks()}
