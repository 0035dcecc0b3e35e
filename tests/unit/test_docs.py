"""Generated documentation must match the code it is generated from."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from monitor.catalog import entries
from monitor.reference import GENERATED, rewrite_readme

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(("name", "produce"), GENERATED.items(), ids=list(GENERATED))
def test_generated_file_is_current(name: str, produce: Callable[[], str]) -> None:
    assert (ROOT / name).read_text() == produce(), "run `make docs`"


def test_readme_configuration_reference_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    assert rewrite_readme(readme) == readme, "run `make docs`"


def test_catalogue_names_follow_conventions() -> None:
    for entry in entries():
        metric = entry.metric
        assert metric.name.startswith(("pg_", "pgmon_")), metric.name
        assert metric.help.strip(), metric.name
        if metric.kind != "counter":
            assert not metric.name.endswith("_total"), f"{metric.name} is not a counter"
        assert "target" not in metric.labels, metric.name


def test_ci_runs_the_readme_test_command() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make test" in readme
    assert "make test" in (ROOT / ".ci" / "run").read_text()
