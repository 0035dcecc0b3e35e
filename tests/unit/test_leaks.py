"""The watch for test passwords in pgmon's output (tests/leaks.py) sees what it must."""

from __future__ import annotations

import pytest

from tests import leaks
from tests.daemon import run_cli


def test_a_password_in_output_is_reported_with_its_place() -> None:
    password = leaks.secret("Watched-pw-for-tests-2Rv6")
    found_before = list(leaks.FOUND)
    try:
        leaks.watch("the body of GET /metrics", b'pg_x{q="Watched-pw-for-tests-2Rv6"} 1\n')
        (report,) = leaks.FOUND[len(found_before) :]
        assert "test_a_password_in_output_is_reported_with_its_place" in report
        assert "the body of GET /metrics contains the password" in report
    finally:
        leaks.FOUND[:] = found_before
        leaks.SECRETS.discard(password)


def test_cli_output_is_watched() -> None:
    password = leaks.secret("Printed-pw-for-tests-8Hs3")
    found_before = list(leaks.FOUND)
    try:
        # The password file's content is never printed, but its name is.
        run_cli("validate-config", env={"PGMON_PASSWORD_FILE": "/missing/" + password})
        (report,) = leaks.FOUND[len(found_before) :]
        assert "the standard error of pgmon validate-config" in report
    finally:
        leaks.FOUND[:] = found_before
        leaks.SECRETS.discard(password)


@pytest.mark.parametrize("weak", ["hunter2", "pass word with spaces", "p%40ss-word-long"])
def test_test_passwords_must_be_distinctive(weak: str) -> None:
    with pytest.raises(ValueError, match="at least 12"):
        leaks.secret(weak)
