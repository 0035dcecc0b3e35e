"""Fuzzing the configuration: whatever the file or the environment holds, pgmon either gets
settings or one ConfigError naming the problem, never another exception (which the command
line would show as a traceback)."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.collectors import BY_NAME
from monitor.findings.checks import all_checks
from monitor.findings.engine import build_policy
from monitor.settings import (
    ENV_PREFIX,
    CollectorSettings,
    ConfigError,
    DatabaseFilter,
    FindingsSettings,
    IgnoreRuleSettings,
    Settings,
    TargetSettings,
    load_settings,
)
from monitor.targets import build_targets

# Names the schema knows, so that examples get past the first unknown key and reach the
# values; mixed with arbitrary text.
KNOWN_KEYS = sorted(
    {
        *Settings.model_fields,
        *TargetSettings.model_fields,
        *CollectorSettings.model_fields,
        *DatabaseFilter.model_fields,
        *FindingsSettings.model_fields,
        *IgnoreRuleSettings.model_fields,
        *BY_NAME,
        *(check.id for check in all_checks()),
    }
)
# Values of the kinds the settings take: durations, DSNs (some with files that do not
# exist), listen addresses, patterns.
LIKELY_VALUES = [
    "15s",
    "250ms",
    "-5s",
    "1h",
    "0",
    "soon",
    "host=127.0.0.1 port=1 dbname=app user=pgmon",
    "postgresql://u:pw@db:5432/app",
    "postgresql://u:pw@[::1",
    "host=x port",
    "host=x sslmode=verify-full sslkey=/missing/key",
    "127.0.0.1:9189",
    ":0",
    "[::1]:9189",
    "app_*",
    "json",
    "debug",
]

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    text,
    st.sampled_from(LIKELY_VALUES),
)
keys = st.one_of(st.sampled_from(KNOWN_KEYS), text, st.integers(), st.booleans())
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
mappings = st.dictionaries(
    st.one_of(st.sampled_from(sorted(Settings.model_fields)), keys), values, max_size=5
)

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def configure(path: str | None) -> Settings:
    """What `pgmon validate-config` does before saying the configuration is valid."""
    loaded = load_settings(path)
    build_policy(loaded, build_targets(loaded))
    return loaded


def outcome(path: str | None) -> Settings | ConfigError:
    try:
        return configure(path)
    except ConfigError as exc:
        message = str(exc)
        assert message, "a ConfigError without a message"
        # The command line prints it as one line: "pgmon: <message>".
        assert "\n" not in message and "\r" not in message, message
        return exc


@contextmanager
def config_file(content: bytes) -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="pgmon-fuzz-") as directory:
        path = Path(directory) / "pgmon.yaml"
        path.write_bytes(content)
        yield str(path)


@contextmanager
def environment(variables: dict[str, str]) -> Iterator[None]:
    saved = {k: v for k, v in os.environ.items() if k.startswith(("PG", ENV_PREFIX))}
    for name in saved:
        del os.environ[name]
    os.environ.update(variables)
    try:
        yield
    finally:
        for name in [k for k in os.environ if k.startswith(("PG", ENV_PREFIX))]:
            del os.environ[name]
        os.environ.update(saved)


@FUZZ
@given(data=mappings)
def test_any_mapping_gives_settings_or_a_config_error(data: dict[Any, Any]) -> None:
    with environment({}), config_file(yaml.safe_dump(data, allow_unicode=True).encode()) as path:
        outcome(path)


@FUZZ
@given(content=st.one_of(st.binary(max_size=200), text.map(str.encode)))
def test_any_file_content_gives_settings_or_a_config_error(content: bytes) -> None:
    with environment({}), config_file(content) as path:
        outcome(path)


env_text = st.text(st.characters(exclude_categories=("Cs",), exclude_characters="\x00"))


@FUZZ
@given(
    variables=st.dictionaries(
        st.sampled_from(
            [ENV_PREFIX + name.upper() for name in Settings.model_fields]
            + [
                "PGMON_COLLECTORS__STATEMENTS__TOP_N",
                "PGMON_COLLECTORS__LOCKS",
                "PGMON_FINDINGS__INTERVAL",
                "PGMON_TARGETS__0__DSN",
            ]
        ),
        st.one_of(env_text, st.sampled_from(LIKELY_VALUES), values.map(yaml.safe_dump)),
        max_size=3,
    )
)
def test_any_environment_gives_settings_or_a_config_error(variables: dict[str, str]) -> None:
    with environment(variables):
        outcome(None)


def test_a_valid_mapping_still_loads() -> None:
    """The harness itself: a good configuration is not mistaken for an error."""
    data = {"targets": [{"dsn": "host=127.0.0.1 dbname=app", "name": "app"}]}
    with environment({}), config_file(yaml.safe_dump(data).encode()) as path:
        assert isinstance(outcome(path), Settings)
