"""The generated alerting rules load in Prometheus, pass their promtool unit tests, and every
alert (at every severity) has a test where it fires and one where it stays quiet."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = Path("alerts/pgmon-rules.yml")
RULE_TESTS = Path("alerts/tests")
RUNBOOKS = Path("docs/runbooks.md")
SEVERITIES = {"critical", "warning", "info"}
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        pytest.fail("promtool is not on PATH (it comes with Prometheus)")
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(arg) for arg in args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def _output(done: subprocess.CompletedProcess[str]) -> str:
    return f"exit code {done.returncode}\n{done.stdout}{done.stderr}"


def _alerting_rules(text: str) -> list[dict[str, Any]]:
    groups = yaml.safe_load(text)["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def _test_files() -> list[Path]:
    files = sorted((ROOT / RULE_TESTS).glob("*.yml"))
    assert files, f"no promtool test files in {RULE_TESTS}"
    return files


def _alert_rule_tests() -> Iterator[dict[str, Any]]:
    for path in _test_files():
        for group in yaml.safe_load(path.read_text())["tests"]:
            yield from group.get("alert_rule_test") or []


def _seconds(duration: str) -> float:
    """A Prometheus duration ("10s", "1h30m") in seconds."""
    unit = "|".join(sorted(_DURATION_UNITS, key=len, reverse=True))  # "ms" before "m"
    assert re.fullmatch(rf"(?:\d+(?:{unit}))+", duration), f"bad duration {duration!r}"
    parts = re.findall(rf"(\d+)({unit})", duration)
    return sum(int(number) * _DURATION_UNITS[name] for number, name in parts)


ALERTING_RULES = _alerting_rules((ROOT / RULES).read_text())


def test_rules_file_passes_promtool_check() -> None:
    done = _run(_promtool(), "check", "rules", RULES)
    assert done.returncode == 0, _output(done)


def test_promtool_unit_tests_pass() -> None:
    files = [path.relative_to(ROOT) for path in _test_files()]
    done = _run(_promtool(), "test", "rules", *files)
    assert done.returncode == 0, _output(done)


def test_unit_tests_load_the_generated_rules() -> None:
    for path in _test_files():
        assert yaml.safe_load(path.read_text())["rule_files"] == ["../pgmon-rules.yml"], path.name


def test_unit_tests_name_existing_alerts() -> None:
    # A misspelled alertname would make an `exp_alerts: []` case pass without testing anything.
    known = {rule["alert"] for rule in ALERTING_RULES}
    tested = {case["alertname"] for case in _alert_rule_tests()}
    assert tested - known == set()


def test_every_alert_and_severity_has_a_firing_case() -> None:
    fired = set()
    for case in _alert_rule_tests():
        for alert in case.get("exp_alerts") or []:
            assert "summary" in (alert.get("exp_annotations") or {}), case["alertname"]
            fired.add((case["alertname"], alert["exp_labels"]["severity"]))
    wanted = {(rule["alert"], rule["labels"]["severity"]) for rule in ALERTING_RULES}
    assert wanted - fired == set()


def test_every_alert_has_a_quiet_case() -> None:
    quiet = {case["alertname"] for case in _alert_rule_tests() if not case.get("exp_alerts")}
    assert {rule["alert"] for rule in ALERTING_RULES} - quiet == set()


@pytest.mark.parametrize(
    "rule", ALERTING_RULES, ids=[f"{r['alert']}-{r['labels']['severity']}" for r in ALERTING_RULES]
)
def test_alerting_rule_conventions(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    assert re.search(r"\$labels\.(target|instance)\b", annotations["description"])
    headings = re.findall(r"^## (\S+)$", (ROOT / RUNBOOKS).read_text(), flags=re.MULTILINE)
    assert rule["alert"] in headings
    assert annotations["runbook_url"].rpartition("#")[2] == rule["alert"].lower()


def test_alert_rules_command_applies_overrides(tmp_path: Path) -> None:
    command = ["alert-rules", "--set", "lock_wait_seconds=5", "--max-for", "10s"]
    done = _run(sys.executable, "-m", "monitor", *command)
    assert done.returncode == 0, _output(done)
    rules = tmp_path / "rules.yml"
    rules.write_text(done.stdout)
    checked = _run(_promtool(), "check", "rules", rules)
    assert checked.returncode == 0, _output(checked)
    assert "pg_locks_max_wait_seconds > 5" in done.stdout
    waits = [_seconds(rule["for"]) for rule in _alerting_rules(done.stdout) if "for" in rule]
    assert waits, "no rule kept a `for:`"
    assert max(waits) <= 10


def test_alert_rules_command_rejects_an_unknown_threshold() -> None:
    done = _run(sys.executable, "-m", "monitor", "alert-rules", "--set", "no_such_threshold=1")
    assert done.returncode == 2
    assert done.stdout == ""
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "no_such_threshold" in done.stderr


def test_thresholds_and_durations_are_written_exactly() -> None:
    from monitor.alerting.render import rules_yaml

    text = rules_yaml({"slot_retained_wal_bytes": 10 * 1024**3 - 8192}, max_for=1.5)
    assert "pg_replication_slots_pg_wal_lsn_diff > 10737410048" in text
    assert "pg_replication_replay_lag_bytes > 1073741824" in text
    assert "for: 1500ms" in text
