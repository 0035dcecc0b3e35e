"""Shared pytest configuration: real PostgreSQL clusters for the tests.

``TEST_PG_VERSIONS`` (comma list, default "15,17,18") selects the PostgreSQL
majors that ``pg_cluster`` is parametrized over.  A selected major that cannot
be found or started makes its tests error; tests are never skipped for that.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import leaks
from tests.pgserver import (
    Cluster,
    find_installations,
    get_installation,
    installation_problems,
    major_matches,
)

_INTEGRATION_DIR = Path(__file__).parent / "integration"


def _selected_majors() -> list[str]:
    raw = os.environ.get("TEST_PG_VERSIONS", "15,17,18")
    majors = [part.strip() for part in raw.split(",") if part.strip()]
    bad = [major for major in majors if not major.isdigit()]
    if bad or not majors:
        raise pytest.UsageError(f"TEST_PG_VERSIONS={raw!r}: expected a comma list like '15,17,18'")
    return majors


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "pg(spec): run only against PostgreSQL majors matching spec, e.g. '>=17' or '>=15,<18'",
    )
    config.addinivalue_line(
        "markers", "integration: needs real PostgreSQL servers (set on tests/integration/)"
    )


def pytest_report_header(config: pytest.Config) -> list[str]:
    lines = [f"TEST_PG_VERSIONS: {','.join(_selected_majors())}"]
    try:
        installations = find_installations()
    except Exception as exc:  # the header must not hide the real failure later
        return [*lines, f"PostgreSQL installations: discovery failed: {exc}"]
    for major in sorted(installations, key=int):
        inst = installations[major]
        lines.append(f"PostgreSQL {major}: {inst.version} [{inst.source}] {inst.bindir}")
    lines.extend(f"PostgreSQL unusable: {problem}" for problem in installation_problems())
    return lines


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if _INTEGRATION_DIR in item.path.parents:
            item.add_marker(pytest.mark.integration)
        marker = item.get_closest_marker("pg")
        if marker is None:
            continue
        if len(marker.args) != 1 or not isinstance(marker.args[0], str):
            raise pytest.UsageError(f"{item.nodeid}: use @pytest.mark.pg('>=17')")
        spec: str = marker.args[0]
        callspec = getattr(item, "callspec", None)
        major = callspec.params.get("pg_cluster") if callspec is not None else None
        if major is None:
            raise pytest.UsageError(
                f"{item.nodeid}: pg({spec!r}) marker without the pg_cluster fixture"
            )
        try:
            matches = major_matches(spec, major)
        except ValueError as exc:
            raise pytest.UsageError(f"{item.nodeid}: {exc}") from None
        if not matches:
            # Skipped at collection time, so a cluster that no remaining test
            # needs is never started.
            item.add_marker(pytest.mark.skip(reason=f"needs PostgreSQL {spec}, cluster is {major}"))


@pytest.fixture(scope="session", params=_selected_majors(), ids=lambda major: f"pg{major}")
def pg_cluster(request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A running primary + streaming replica, shared by the whole session."""
    cluster = Cluster(get_installation(request.param))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.cleanup()


@pytest.fixture(scope="session", autouse=True)
def no_password_in_any_output() -> Iterator[None]:
    """At the end of the session, fail if pgmon ever printed or served a test password
    (see tests/leaks.py): reported as an error in the teardown of the last test."""
    yield
    if leaks.FOUND:
        pytest.fail(
            "pgmon gave away a password:\n" + "\n".join(dict.fromkeys(leaks.FOUND)),
            pytrace=False,
        )
