"""Bad configuration exits with status 2 and one message naming the key; no traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.settings import ConfigError, load_settings
from monitor.targets import build_targets
from tests.daemon import run_cli
from tests.leaks import secret

GOOD_DSN = "host=127.0.0.1 port=1 dbname=app user=pgmon"
PASSWORD = secret("hunter2-in-a-bad-dsn")


def write(tmp_path: Path, text: str) -> str:
    path = tmp_path / "pgmon.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("listen: ':9189'\nbogus_key: 1\n", "bogus_key: unknown setting"),
        (
            "targets:\n  - dsn: 'host=x'\n    colectors: {}\n",
            "targets.0.colectors: unknown setting",
        ),
        (
            "collectors:\n  statements: {interval: 'soon'}\n",
            "collectors.statements.interval: 'soon' is not a duration",
        ),
        ("collectors:\n  locks: {interval: -5}\n", "collectors.locks.interval"),
        ("collectors:\n  nosuch: {enabled: false}\n", "collectors.nosuch: unknown collector"),
        (
            "targets:\n  - dsn: 'host=x port'\n",
            "targets.0.dsn: not a valid libpq connection string",
        ),
        ("listen: 'nowhere'\n", "listen: 'nowhere' is not HOST:PORT"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("targets: [\n", "not valid YAML"),
        (
            f"targets:\n  - {{name: a, dsn: '{GOOD_DSN}'}}\n  - {{name: a, dsn: '{GOOD_DSN}'}}\n",
            "targets.1.name: target name 'a' is used twice",
        ),
        (
            "collectors:\n  indexes: {interval: 10s, timeout: 20s}\n",
            "indexes.timeout: 20s is longer than the interval 10s",
        ),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path: Path, config: str, expected: str) -> None:
    result = run_cli("validate-config", "--config", write(tmp_path, config))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_unreadable_file(tmp_path: Path) -> None:
    result = run_cli("validate-config", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert "missing.yaml: cannot read it" in result.stderr
    assert "Traceback" not in result.stderr


def test_unknown_environment_variable_is_rejected() -> None:
    result = run_cli("validate-config", env={"PGMON_LISTN": "127.0.0.1:1"})
    assert result.returncode == 2
    assert "PGMON_LISTN: no such setting" in result.stderr


def test_bad_dsn_on_command_line_does_not_echo_password() -> None:
    result = run_cli("collect", "--dsn", f"host=x password={PASSWORD} port")
    assert result.returncode == 2
    assert "dsn" in result.stderr
    assert PASSWORD not in result.stderr


def test_valid_config(tmp_path: Path) -> None:
    config = write(
        tmp_path,
        f"targets:\n  - name: main\n    dsn: '{GOOD_DSN}'\n"
        "    databases: {exclude: ['scratch_*']}\n"
        "    collectors: {statements: {top_n: 50, interval: 2m}, indexes: {enabled: false}}\n"
        "statement_timeout: 2s\nlock_timeout: 50ms\n",
    )
    result = run_cli("validate-config", "--config", config)
    assert result.returncode == 0, result.stderr


def test_layers_cli_over_environment_over_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path, "listen: '127.0.0.1:1000'\nlock_timeout: 1s\nstatement_timeout: 3s\n")
    monkeypatch.setenv("PGMON_LOCK_TIMEOUT", "250ms")
    monkeypatch.setenv("PGMON_COLLECTORS__STATEMENTS__TOP_N", "7")
    settings = load_settings(config, listen="127.0.0.1:2000")
    assert settings.listen == "127.0.0.1:2000"
    assert settings.lock_timeout == 0.25
    assert settings.statement_timeout == 3.0
    assert settings.collectors["statements"].top_n == 7


def test_dsn_from_environment_single_or_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGMON_DSN", GOOD_DSN)
    assert load_settings().dsn == [GOOD_DSN]
    monkeypatch.setenv("PGMON_DSN", '["host=a dbname=x", "postgresql://b:5433/y"]')
    targets = build_targets(load_settings())
    assert [t.name for t in targets] == ["a:5432/x", "b:5433/y"]


def test_per_target_overrides_global_and_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings(
        None,
        targets=[
            {"name": "a", "dsn": GOOD_DSN, "collectors": {"statements": {"interval": "30s"}}},
            {"name": "b", "dsn": GOOD_DSN},
        ],
        collectors={"statements": {"top_n": 20}, "wal": {"enabled": False}},
    )
    a, b = build_targets(settings)
    plan_a = {p.spec.name: p for p in a.plans}
    plan_b = {p.spec.name: p for p in b.plans}
    assert (plan_a["statements"].interval, plan_a["statements"].top_n) == (30.0, 20)
    assert (plan_b["statements"].interval, plan_b["statements"].top_n) == (60.0, 20)
    assert "wal" not in plan_a and "wal" not in plan_b
    assert plan_a["connections"].interval == 15.0
    assert plan_a["indexes"].interval == 300.0


def test_target_name_never_holds_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PGHOST", raising=False)
    settings = load_settings(None, dsn=["postgresql://u:topsecret@db.example:6432/app"])
    (target,) = build_targets(settings)
    assert target.name == "db.example:6432/app"


def test_no_dsn_means_libpq_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("PGHOST", "PGPORT", "PGDATABASE", "PGUSER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("PGHOST", "sidecar-db")
    monkeypatch.setenv("PGPORT", "5544")
    monkeypatch.setenv("PGDATABASE", "shop")
    (target,) = build_targets(load_settings())
    assert target.name == "sidecar-db:5544/shop"
    assert target.dsn == ""


def test_config_error_type_for_programmatic_use(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="bogus"):
        load_settings(write(tmp_path, "bogus: 1\n"))


def test_database_include_and_exclude_patterns() -> None:
    settings = load_settings(
        None,
        targets=[
            {
                "dsn": GOOD_DSN,
                "databases": {"include": ["app*", "reports"], "exclude": ["app_tmp*"]},
            }
        ],
    )
    (target,) = build_targets(settings)
    assert target.wants("app") and target.wants("app_eu") and target.wants("reports")
    assert not target.wants("app_tmp1")
    assert not target.wants("postgres")
