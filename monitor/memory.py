"""Keep the daemon's resident memory close to what it holds (glibc; elsewhere no-ops).

glibc keeps freed memory in its heaps for reuse: after a run that read tens of thousands
of catalogue rows, most of it sat unused (77 MiB of 203 MiB resident at 80,000 indexes)
until the next such run; malloc_trim(0) returns it. And each collector thread would get a
heap of its own (up to 8 per CPU), each keeping its own freed memory; two heaps are plenty
for threads that mostly wait on the network.
"""

from __future__ import annotations

import ctypes
import ctypes.util
from collections.abc import Callable
from typing import Any

# Results at least this large (rows kept plus samples) are followed by a trim.
LARGE = 10_000


# mallopt's parameter number for the largest number of heaps (malloc.h)
_M_ARENA_MAX = -8
_ARENAS = 2


def _libc_function(name: str) -> Any:
    library = ctypes.util.find_library("c")
    try:
        return getattr(ctypes.CDLL(library), name) if library else None
    except (OSError, AttributeError):
        return None


def limit_heaps() -> None:
    """Call before the collector threads start."""
    mallopt = _libc_function("mallopt")
    if mallopt is not None:
        mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
        mallopt.restype = ctypes.c_int
        mallopt(_M_ARENA_MAX, _ARENAS)


def _malloc_trim() -> Callable[[], None]:
    trim = _libc_function("malloc_trim")
    if trim is None:
        return lambda: None
    trim.argtypes = [ctypes.c_size_t]
    trim.restype = ctypes.c_int

    def release() -> None:
        trim(0)

    return release


release = _malloc_trim()


def after(size: int) -> None:
    """Call after producing `size` rows and samples; trims only after large ones."""
    if size >= LARGE:
        release()
