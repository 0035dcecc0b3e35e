"""Generated documentation must match the code it is generated from."""

from __future__ import annotations

from pathlib import Path

from monitor.catalog import entries, render
from monitor.reference import rewrite_readme

ROOT = Path(__file__).resolve().parents[2]


def test_metrics_catalogue_is_current() -> None:
    assert (ROOT / "docs" / "metrics.md").read_text() == render("markdown"), "run `make docs`"


def test_findings_reference_is_current() -> None:
    from monitor.reference import findings_reference

    assert (ROOT / "docs" / "findings.md").read_text() == findings_reference(), "run `make docs`"


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
