"""The demo's application: a few gentle threads that keep producing what pgmon watches.

* traffic: small transactions on the `shop` tables, ten a second, by primary key only
  (the planted indexes stay unused);
* one session idle in a transaction for the whole demo;
* lock cycle: now and then a session holds a row lock while another waits for it;
* replay cycle: now and then replay pauses on the standby while the primary writes.
"""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psycopg

from monitor.demo.schema import APP_ROLE, DATABASE, LOCKED_PRODUCT
from monitor.pginstance import Server, pause_replay, resume_replay


@dataclass(frozen=True)
class Timings:
    """Seconds. The first lock and the first pause come early, so that a demo (or a test)
    sees them within half a minute."""

    traffic_pause: float = 0.1
    lock_first: float = 5.0
    lock_every: float = 40.0
    lock_hold: float = 15.0
    replay_first: float = 8.0
    replay_every: float = 60.0
    replay_pause: float = 15.0


class Workload:
    def __init__(
        self,
        primary: Server,
        standby: Server,
        app_password: str,
        log: Callable[[str], None],
        timings: Timings = Timings(),
    ) -> None:
        self._primary = primary
        self._standby = standby
        self._password = app_password
        self._log = log
        self._t = timings
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._idle: psycopg.Connection[Any] | None = None

    def _connect(self, application_name: str, **options: Any) -> psycopg.Connection[Any]:
        return self._primary.connect(
            DATABASE, APP_ROLE, self._password, application_name=application_name, **options
        )

    def start(self) -> None:
        # Opened here and left alone: idle_in_transaction, and later long_running_transaction.
        self._idle = self._connect("shop-idle")
        self._idle.autocommit = False
        self._idle.execute("SELECT count(*) FROM orders WHERE customer_id = 42")
        t = self._t
        for name, body in (
            ("traffic", self._traffic),
            ("locks", self._every(t.lock_first, t.lock_every, t.lock_hold, self._lock_episode)),
            (
                "replay",
                self._every(t.replay_first, t.replay_every, t.replay_pause, self._replay_episode),
            ),
        ):
            thread = threading.Thread(target=self._guarded, args=(name, body), daemon=True)
            thread.name = f"demo-{name}"
            thread.start()
            self._threads.append(thread)

    def stop(self, timeout: float = 30.0) -> None:
        """Stop every thread (releasing the lock and resuming replay) and close sessions."""
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout)
        if self._idle is not None:
            with contextlib.suppress(psycopg.Error):
                self._idle.close()

    def _guarded(self, name: str, body: Callable[[], None]) -> None:
        """Run ``body`` until stopped; a database error is logged and retried a second later."""
        while not self._stop.is_set():
            try:
                body()
            except psycopg.Error as exc:
                self._log(f"workload {name}: {type(exc).__name__}: {exc}".rstrip())
                self._stop.wait(1.0)

    def _every(
        self, first: float, every: float, length: float, episode: Callable[[], None]
    ) -> Callable[[], None]:
        """A thread body that runs ``episode`` (which lasts about ``length``) after
        ``first`` seconds, then every ``every`` seconds, until stopped."""

        def cycle() -> None:
            if self._stop.wait(first):
                return
            while True:
                episode()
                if self._stop.wait(max(1.0, every - length)):
                    return

        return cycle

    # -- traffic -----------------------------------------------------------------------

    def _traffic(self) -> None:
        rng = random.Random()
        with self._connect("shop-traffic") as conn:
            while not self._stop.wait(self._t.traffic_pause):
                self._one_transaction(conn, rng)

    @staticmethod
    def _one_transaction(conn: psycopg.Connection[Any], rng: random.Random) -> None:
        customer, product = rng.randint(1, 2000), rng.randint(1, 100)
        roll = rng.random()
        if roll < 0.5:
            conn.execute("SELECT name, email FROM customers WHERE id = %s", [customer])
            conn.execute("SELECT sku, stock FROM products WHERE id = %s", [product])
        elif roll < 0.8:
            conn.execute(
                "INSERT INTO orders (customer_id, product_id, amount) VALUES (%s, %s, %s)",
                [customer, product, rng.randint(100, 50000) / 100],
            )
        elif roll < 0.95:
            conn.execute("UPDATE orders SET status = 'paid' WHERE id = %s", [rng.randint(1, 20000)])
        else:
            conn.execute(
                "SELECT id, amount FROM orders WHERE id > (SELECT max(id) - 10 FROM orders)"
                " ORDER BY id DESC"
            )
        if rng.random() < 0.02:  # new customers draw from the nearly exhausted sequence
            conn.execute(
                "INSERT INTO customers (name, email) VALUES (%s, %s)",
                [f"new customer {customer}", f"new{customer}@example.com"],
            )

    # -- lock episodes --------------------------------------------------------------------

    def _lock_episode(self) -> None:
        """One session updates a row and sits on it; another wants the same row and waits
        (blocked_sessions) until the first commits."""
        waiter = threading.Thread(target=self._wait_for_row, name="demo-waiter", daemon=True)
        with self._connect("shop-locker") as holder:
            holder.autocommit = False
            holder.execute("UPDATE products SET stock = stock - 1 WHERE id = %s", [LOCKED_PRODUCT])
            waiter.start()
            self._stop.wait(self._t.lock_hold)
            holder.commit()
        waiter.join(30)

    def _wait_for_row(self) -> None:
        # lock_timeout only guards against a holder that never lets go.
        options = f"-c lock_timeout={round((self._t.lock_hold + 30) * 1000)}"
        try:
            with self._connect("shop-waiter", options=options) as conn:
                conn.execute(
                    "UPDATE products SET stock = stock + 1 WHERE id = %s", [LOCKED_PRODUCT]
                )
        except psycopg.Error as exc:
            self._log(f"workload waiter: {type(exc).__name__}: {exc}".rstrip())

    # -- replay episodes ------------------------------------------------------------------

    def _replay_episode(self) -> None:
        """Replay pauses on the standby while the primary writes about 2 MB of WAL, so the
        standby falls behind in bytes and in seconds (replication_lag); then it catches up."""
        pause_replay(self._standby)
        try:
            with self._connect("shop-batch") as conn:
                conn.execute("DELETE FROM events")
                conn.execute(
                    "INSERT INTO events (payload)"
                    " SELECT repeat(md5(g::text), 16) FROM generate_series(1, 4000) g"
                )
            self._stop.wait(self._t.replay_pause)
        finally:
            resume_replay(self._standby)
