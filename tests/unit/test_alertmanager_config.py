"""The example Alertmanager configuration: valid, routed as documented, no inline secret."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml

from tests.observability import binary
from tests.promql import ROOT

CONFIG = ROOT / "alerts" / "alertmanager.yml"
SECRET_KEYS = {"api_url", "auth_password", "auth_secret", "credentials", "password", "url"}


def amtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [binary("amtool"), *args], capture_output=True, text=True, check=False, timeout=30
    )


def test_amtool_accepts_it() -> None:
    done = amtool("check-config", str(CONFIG))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout


@pytest.mark.parametrize(
    ("labels", "receivers"),
    [
        (["severity=critical", "alertname=PostgresDown", "target=db1"], "oncall,webhook"),
        (["severity=warning", "alertname=PostgresDeadlocks", "target=db1"], "team-slack,webhook"),
        (["severity=info", "alertname=PostgresStatementsDeallocating"], "webhook"),
    ],
)
def test_routes_by_severity(labels: list[str], receivers: str) -> None:
    done = amtool("config", "routes", "test", f"--config.file={CONFIG}", *labels)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == receivers


def _keys(node: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            found.append((f"{path}.{key}", value))
            found += _keys(value, f"{path}.{key}")
        return found
    if isinstance(node, list):
        return [pair for item in node for pair in _keys(item, path)]
    return []


def test_secrets_come_from_files() -> None:
    config = yaml.safe_load(CONFIG.read_text())
    for path, _ in _keys(config):
        key = path.rsplit(".", 1)[-1]
        if key in SECRET_KEYS and not path.endswith("webhook_configs.url"):
            raise AssertionError(f"{path} holds a secret inline; use the *_file variant")
    files = [value for path, value in _keys(config) if path.endswith("_file")]
    assert len(files) >= 3


def test_target_down_inhibits_the_targets_other_alerts() -> None:
    inhibit = yaml.safe_load(CONFIG.read_text())["inhibit_rules"]
    down = [rule for rule in inhibit if rule["source_matchers"] == ['alertname="PostgresDown"']]
    assert down and down[0]["equal"] == ["target"]
    assert yaml.safe_load(CONFIG.read_text())["route"]["group_by"] == ["alertname", "target"]
