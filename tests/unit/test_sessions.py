"""sessions: keeps its rows for the findings, bounded by top_n, and exports no samples."""

from __future__ import annotations

from typing import Any

from monitor.collectors import sessions
from tests.collecting import FakeContext


class Bounded(FakeContext):
    def __init__(self, rows: dict[str, list[Any]], top_n: int | None) -> None:
        super().__init__(rows)
        self.top_n = top_n
        self.params: list[Any] = []

    def fetch(self, query: str, params: Any = None) -> list[Any]:
        self.params.append(params)
        return super().fetch(query, params)


def test_rows_are_kept_and_bounded_by_top_n() -> None:
    ctx = Bounded({"sessions": ["s"], "sessions_blocking": ["b"]}, top_n=None)
    assert list(sessions.collect(ctx)) == []  # type: ignore[arg-type]
    assert ctx.kept == {"sessions": ["s"], "sessions_blocking": ["b"]}
    assert ctx.params == [(sessions.DEFAULT_TOP_N,), (sessions.DEFAULT_TOP_N,)]
    ctx = Bounded({"sessions": [], "sessions_blocking": []}, top_n=3)
    list(sessions.collect(ctx))  # type: ignore[arg-type]
    assert ctx.params == [(3,), (3,)]
