"""Memory is handed back after large results only, and the calls are safe anywhere."""

from __future__ import annotations

import pytest

from monitor import memory


def test_trims_after_large_results_only(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(memory, "release", lambda: calls.append(1))
    memory.after(memory.LARGE - 1)
    assert calls == []
    memory.after(memory.LARGE)
    assert calls == [1]


def test_libc_calls_do_not_fail() -> None:
    memory.limit_heaps()
    memory.release()
    assert memory._libc_function("no_such_function_in_libc") is None
