"""How an endpoint fails when it cannot give a run a session, without a database."""

from __future__ import annotations

import threading

import pytest

from monitor.db import Endpoint, EndpointBusy, SessionLimits, TargetDown
from monitor.pginstance.conf import free_port

LIMITS = SessionLimits(statement_timeout=5, lock_timeout=0.1, connect_timeout=1, backoff_max=1)


def test_a_run_that_cannot_get_the_session_fails_with_the_same_message_every_time() -> None:
    endpoint = Endpoint("host=127.0.0.1 port=1 dbname=never", LIMITS)
    holding, release = threading.Event(), threading.Event()

    def hold() -> None:
        # What a long run does: keep the endpoint's one session to itself.
        with endpoint._lock:
            holding.set()
            release.wait(10)

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        holding.wait(10)
        messages = set()
        for timeout in (0.05, 0.12):
            with pytest.raises(EndpointBusy) as raised, endpoint.session(timeout):
                pass
            messages.add(str(raised.value))
        assert len(messages) == 1, messages
    finally:
        release.set()
        holder.join()


def test_runs_during_the_backoff_fail_with_the_same_message() -> None:
    # Nothing listens there: the connection is refused at once.
    endpoint = Endpoint(f"host=127.0.0.1 port={free_port()} dbname=none", LIMITS)
    with pytest.raises(TargetDown) as first, endpoint.session(1):
        pass
    messages = set()
    for _ in range(3):
        with pytest.raises(TargetDown) as later, endpoint.session(1):
            pass
        messages.add(str(later.value))
    [message] = messages
    assert str(first.value) in message  # why the target is down stays visible
    endpoint.close()
