from __future__ import annotations

import os
from pathlib import Path

import pytest

from monitor.dsn import check_dsn, display_name, secrets_of, with_database
from monitor.durations import format_seconds, parse_seconds
from monitor.logs import SecretScrubber


@pytest.mark.parametrize(
    ("dsn", "name"),
    [
        ("postgresql://u:pw@db:6432/app", "db:6432/app"),
        ("host=db dbname=app user=u password=pw", "db:5432/app"),
        ("host=/var/run/postgresql dbname=app", "localhost:5432/app"),
        ("postgresql://u@h1,h2:5433/app", "h1:5432,h2:5433/app"),
    ],
)
def test_display_name_has_no_credentials(dsn: str, name: str) -> None:
    assert display_name(dsn) == name


def test_secrets_are_found_for_scrubbing() -> None:
    assert secrets_of("host=db password=s3cret") == ["s3cret"]
    # As libpq reads it and as written, since the written form may be echoed.
    assert set(secrets_of("postgresql://u:p%40ss@db/app")) == {"p@ss", "p%40ss"}
    assert secrets_of("host=db") == []


def test_invalid_dsn_message_does_not_echo_the_password() -> None:
    with pytest.raises(ValueError) as raised:
        check_dsn("host=db password=hunter2 port")
    assert "hunter2" not in str(raised.value)


def test_with_database_keeps_credentials() -> None:
    assert "dbname=other" in with_database("host=db user=u password=pw dbname=app", "other")
    assert "password=pw" in with_database("host=db user=u password=pw dbname=app", "other")


def test_scrubber_cleans_nested_values() -> None:
    scrubber = SecretScrubber()
    scrubber.add(["s3cret"])
    event = {"event": "x", "error": "bad s3cret", "items": ["s3cret", 1], "n": 3}
    assert scrubber(None, "info", event) == {
        "event": "x",
        "error": "bad ***",
        "items": ["***", 1],
        "n": 3,
    }


@pytest.mark.parametrize(
    ("text", "seconds"), [("250ms", 0.25), ("15s", 15.0), ("5m", 300.0), ("1h", 3600.0), ("2", 2.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_seconds(text) == seconds


def test_bad_duration() -> None:
    with pytest.raises(ValueError, match="not a duration"):
        parse_seconds("soon")


def test_format_seconds() -> None:
    assert [format_seconds(s) for s in (0.1, 15, 300)] == ["100ms", "15s", "5m"]


def test_display_name_under_a_uid_without_passwd_entry(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_entry() -> str:
        raise KeyError("getpwuid(): uid not found: 10001")

    for variable in ("PGUSER", "PGDATABASE", "PGHOST", "PGPORT"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setattr("getpass.getuser", no_entry)
    assert display_name("host=db port=5433") == "db:5433/"
    assert display_name("host=db user=app") == "db:5432/app"


def test_every_password_of_a_uri_is_found() -> None:
    # libpq takes the query parameter; the user-info password is still in the text.
    assert set(secrets_of("postgresql://u:first@db/app?password=second")) == {"first", "second"}
    assert "a b" in secrets_of("host=db password='a b'")


@pytest.mark.parametrize(
    "dsn",
    [
        "postgresql://u:p%40ss-word@[::1/app",
        "postgresql://u@db/app?password=p%40ss-word x",
        "host=db password='p@ss-word",
    ],
)
def test_parse_errors_are_redacted(dsn: str) -> None:
    with pytest.raises(ValueError) as raised:
        check_dsn(dsn)
    assert "ss-word" not in str(raised.value)


def test_named_files_must_be_readable(tmp_path: Path) -> None:
    key = tmp_path / "client.key"
    key.write_text("not really a key")
    check_dsn(f"host=db sslmode=verify-full sslkey={key} sslrootcert=system")
    with pytest.raises(ValueError, match=f"sslcrl {tmp_path}: cannot read it"):
        check_dsn(f"host=db sslcrl={tmp_path}")
    with pytest.raises(ValueError, match="passfile /missing/pgpass: cannot read it"):
        check_dsn("host=db passfile=/missing/pgpass")


def test_a_fifo_named_by_mistake_does_not_hang(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    check_dsn(f"host=db sslkey={fifo}")  # opened without waiting for a writer


@pytest.mark.parametrize(
    ("dsn", "problem"),
    [
        ("host=db sslmode=verify", "sslmode 'verify' is not one of"),
        ("host=db target_session_attrs=primary-ish", "target_session_attrs 'primary-ish'"),
        ("host=a,b port=5432,x", "port 'x' is not a port number"),
        ("host=db port=70000", "port '70000' is not a port number"),
    ],
)
def test_values_libpq_would_refuse_when_connecting(dsn: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        check_dsn(dsn)
