"""Deadlines that the server cannot enforce.

statement_timeout ends a slow statement, but only a server that still answers can end it.
A backend that stopped (a hung disk, a stopped process) or a network that drops packets
without resetting the connection leaves a run waiting on its socket for ever: its
collector never reports again, its scheduler thread is lost, and the daemon cannot exit.
The watchdog calls an action (shutting the socket down, see monitor.db) when such a run
outlives its deadline. One thread serves every session of the process.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable

from monitor.logs import get_logger

log = get_logger()


class Watchdog:
    """Calls each action registered with `watch` at its time (time.monotonic()), unless it
    was forgotten first."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._due: list[tuple[float, int]] = []  # a heap; forgotten tokens are skipped
        self._actions: dict[int, Callable[[], None]] = {}
        self._tokens = itertools.count()
        self._thread: threading.Thread | None = None

    def watch(self, when: float, action: Callable[[], None]) -> int:
        with self._cond:
            token = next(self._tokens)
            self._actions[token] = action
            heapq.heappush(self._due, (when, token))
            if self._thread is None:
                self._thread = threading.Thread(target=self._serve, name="watchdog", daemon=True)
                self._thread.start()
            if self._due[0][1] == token:  # else the thread already waits for an earlier one
                self._cond.notify()
        return token

    def forget(self, token: int) -> None:
        with self._cond:
            self._actions.pop(token, None)

    def _next_action(self) -> Callable[[], None]:
        with self._cond:
            while True:
                while self._due and self._due[0][1] not in self._actions:
                    heapq.heappop(self._due)
                if not self._due:
                    self._cond.wait()
                    continue
                when, token = self._due[0]
                delay = when - time.monotonic()
                if delay <= 0:
                    heapq.heappop(self._due)
                    return self._actions.pop(token)
                self._cond.wait(delay)

    def _serve(self) -> None:
        while True:
            action = self._next_action()
            try:
                action()
            except Exception:  # one failing action must not stop the watch over the others
                log.exception("watchdog_action_failed")


WATCHDOG = Watchdog()
