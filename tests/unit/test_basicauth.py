"""Basic auth: the right password of a configured user lets in, anything else does not; each
distinct credential costs one bcrypt check, and the password itself is kept nowhere."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import bcrypt
import pytest

from monitor.basicauth import BasicAuth
from tests.certs import bcrypt_hash

PASSWORD = "correct horse"


def header(user: str | bytes, password: str | bytes) -> str:
    raw = (user.encode() if isinstance(user, str) else user) + b":"
    raw += password.encode() if isinstance(password, str) else password
    return "Basic " + base64.b64encode(raw).decode()


@pytest.fixture
def bcrypt_checks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bytes]]:
    """The passwords bcrypt was asked to check, in order (bcrypt still does the checking)."""
    seen: list[bytes] = []
    real = bcrypt.checkpw

    def counting(password: bytes, hashed: bytes) -> bool:
        seen.append(password)
        return real(password, hashed)

    monkeypatch.setattr(bcrypt, "checkpw", counting)
    yield seen


def auth(cache_size: int = 256) -> BasicAuth:
    users = {"prometheus": bcrypt_hash(PASSWORD).encode(), "grafana": bcrypt_hash("g").encode()}
    return BasicAuth(users, cache_size=cache_size)


def test_right_password_of_a_known_user_only() -> None:
    checker = auth()
    assert checker.allows(header("prometheus", PASSWORD))
    assert checker.allows(header("grafana", "g"))
    assert not checker.allows(header("prometheus", "g"))  # another user's password
    assert not checker.allows(header("prometheus", PASSWORD + " "))
    assert not checker.allows(header("nobody", PASSWORD))
    assert not checker.allows(header("Prometheus", PASSWORD))


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "Basic",
        "Bearer " + base64.b64encode(f"prometheus:{PASSWORD}".encode()).decode(),
        "Basic not*base64",
        "Basic " + base64.b64encode(b"prometheus").decode(),  # no colon
        header("prometheus", "x" * 100),  # beyond bcrypt's 72 bytes: refused, no error
        header(b"\xff\xfe", PASSWORD),  # a user name that is not UTF-8
    ],
)
def test_malformed_or_missing_credentials_are_refused(value: str | None) -> None:
    assert not auth().allows(value)


def test_scheme_name_is_case_insensitive() -> None:
    assert auth().allows(header("prometheus", PASSWORD).replace("Basic", "basic"))


def test_each_distinct_credential_is_checked_by_bcrypt_once(bcrypt_checks: list[bytes]) -> None:
    checker = auth()
    for _ in range(3):
        assert checker.allows(header("prometheus", PASSWORD))
        assert not checker.allows(header("prometheus", "wrong"))
    assert bcrypt_checks == [PASSWORD.encode(), b"wrong"]


def test_unknown_users_cost_a_bcrypt_check_too(bcrypt_checks: list[bytes]) -> None:
    """Otherwise the time of a refusal would tell whether the user name exists."""
    assert not auth().allows(header("nobody", "x"))
    assert bcrypt_checks == [b"x"]


def test_cache_is_bounded_least_recently_used_first(bcrypt_checks: list[bytes]) -> None:
    checker = auth(cache_size=2)
    for password in ("a", "b", "a", "c", "a", "b"):
        checker.allows(header("prometheus", password))
    # "a" stayed (used again before "c" came); "b" was pushed out by "c" and checked again.
    assert bcrypt_checks == [b"a", b"b", b"c", b"b"]


def test_password_is_not_kept() -> None:
    checker = auth()
    assert checker.allows(header("prometheus", PASSWORD))
    kept = repr(vars(checker)).encode()
    assert PASSWORD.encode() not in kept
    assert base64.b64encode(PASSWORD.encode()) not in kept
