"""Bad configuration exits with status 2 and one message naming the key; no traceback."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
import yaml

from monitor.settings import ConfigError, load_settings
from monitor.targets import all_secrets, build_targets
from tests.daemon import free_port, run_cli
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
        ("shard_count: many\n", "shard_count: Input should be a valid integer"),
        ("targets: {dsn: 'host=x'}\n", "targets: Input should be a valid list"),
        ("collectors:\n  locks: {interval: .inf}\n", "locks.interval: Input should be a finite"),
        ("statement_timeout: 9000h\n", "statement_timeout: Input should be less than"),
        ("1: true\n", "1: setting names are text"),
        ("targets:\n  - dsn: 'host=x sslmode=verify'\n", "targets.0.dsn: sslmode 'verify'"),
        ("dsn: ['postgresql://db:fivefourthreetwo/app']\n", "dsn: port 'fivefourthreetwo'"),
        (
            "targets:\n  - dsn: 'host=x sslmode=verify-full sslkey=/missing/pgmon.key'\n",
            "targets.0.dsn: sslkey /missing/pgmon.key: cannot read it (No such file",
        ),
        (
            "dsn: ['host=x sslrootcert=/missing/root.crt']\n",
            "dsn: sslrootcert /missing/root.crt: cannot read it",
        ),
        (
            "password_file: /missing/pgmon-password\n",
            "password_file: /missing/pgmon-password: cannot read it (No such file",
        ),
        (
            "targets:\n  - {dsn: 'host=x', password_file: /missing/pw}\n",
            "targets.0.password_file: /missing/pw: cannot read it",
        ),
        (
            "collectors:\n  locks: {query_text: false}\n",
            "locks.query_text: only the statements collector reads query text",
        ),
    ],
)
def test_bad_config_exits_2_naming_the_key(tmp_path: Path, config: str, expected: str) -> None:
    result = run_cli("validate-config", "--config", write(tmp_path, config))
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr
    assert "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "config",
    [
        "targets: [\n",
        "collectors:\n  nosuch: {enabled: false}\n",
        "targets:\n  - dsn: 'host=x sslkey=/missing/pgmon.key'\n",
        "password_file: /missing/pgmon-password\n",
    ],
)
def test_daemon_with_bad_config_starts_nothing(tmp_path: Path, config: str) -> None:
    port = free_port()
    result = run_cli("run", "--config", write(tmp_path, config), "--listen", f"127.0.0.1:{port}")
    assert result.returncode == 2, result.stderr
    # One line, the problem: no "started" event, no traceback, and nothing listens.
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert result.stderr.startswith("pgmon: ")
    with socket.socket() as probe:
        assert probe.connect_ex(("127.0.0.1", port)) != 0


def test_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "pgmon.yaml"
    path.write_bytes(b"listen: '\xff:9189'\n")
    result = run_cli("validate-config", "--config", str(path))
    assert result.returncode == 2
    assert (
        result.stderr == f"pgmon: config file {path}: not UTF-8 text (byte 10 cannot be decoded)\n"
    )


@pytest.mark.parametrize(
    ("variable", "text", "expected"),
    [
        ("PGMON_TARGETS", "[{'dsn': 'host=x'}]", "PGMON_TARGETS: not valid JSON"),
        ("PGMON_COLLECTORS", '{"locks": ', "PGMON_COLLECTORS: not valid JSON"),
        ("PGMON_DSN", "[host=a, 'host=b]", "dsn: a list of DSNs must be written as JSON"),
    ],
)
def test_environment_that_does_not_decode(variable: str, text: str, expected: str) -> None:
    result = run_cli("validate-config", env={variable: text})
    assert result.returncode == 2
    assert expected in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


@pytest.mark.parametrize(
    "dsn",
    [
        f"postgresql://pgmon:{PASSWORD}@[::1/app",  # libpq quotes the whole URI
        f"postgresql://pgmon@db/app?password={PASSWORD}%20x y",  # ... or the parameter
        f"host=db password='{PASSWORD}",  # unterminated
        f"host=db password={PASSWORD} sslmode=on",
        f"host=db password={PASSWORD} sslcert=/missing/{PASSWORD}.crt",
    ],
)
def test_invalid_dsn_never_echoes_its_password(tmp_path: Path, dsn: str) -> None:
    config = write(tmp_path, yaml.safe_dump({"targets": [{"dsn": dsn}]}))
    result = run_cli("validate-config", "--config", config)
    assert result.returncode == 2
    assert result.stderr.startswith(f"pgmon: config file {config}: targets.0.dsn: ")
    assert PASSWORD not in result.stderr


def test_password_file_content_is_never_shown(tmp_path: Path) -> None:
    secret_file = tmp_path / "password"
    secret_file.write_text("")
    config = write(tmp_path, f"password_file: {secret_file}\n")
    result = run_cli("validate-config", "--config", config)
    assert result.returncode == 2
    assert (
        result.stderr
        == f"pgmon: config file {config}: password_file: {secret_file}: the file is empty\n"
    )
    secret_file.write_bytes(PASSWORD.encode() + b"\xff\n")
    result = run_cli("validate-config", "--config", config)
    assert result.returncode == 2
    assert result.stderr.endswith(f"password_file: {secret_file}: not UTF-8 text\n")
    secret_file.write_text(PASSWORD + "\n")
    assert run_cli("validate-config", "--config", config).returncode == 0


def test_password_file_per_target_wins(tmp_path: Path) -> None:
    mine, shared = tmp_path / "mine", tmp_path / "shared"
    mine.write_text("a-password-of-its-own\n")
    shared.write_text("the-shared-password\n")
    settings = load_settings(
        None,
        password_file=str(shared),
        targets=[
            {"name": "a", "dsn": GOOD_DSN, "password_file": str(mine)},
            {"name": "b", "dsn": GOOD_DSN},
        ],
    )
    a, b = build_targets(settings)
    assert (a.password_file, b.password_file) == (mine, shared)
    assert "the-shared-password" in all_secrets(settings)


def test_query_text_is_on_unless_turned_off() -> None:
    settings = load_settings(
        None,
        targets=[
            {"name": "a", "dsn": GOOD_DSN, "collectors": {"statements": {"query_text": False}}},
            {"name": "b", "dsn": GOOD_DSN},
        ],
    )
    a, b = build_targets(settings)
    assert [p.query_text for p in a.plans if p.spec.name == "statements"] == [False]
    assert [p.query_text for p in b.plans if p.spec.name == "statements"] == [True]


def test_target_repr_leaves_the_dsn_out() -> None:
    settings = load_settings(None, dsn=[f"host=db user=u password={PASSWORD}"])
    (target,) = build_targets(settings)
    assert PASSWORD not in repr(target)
    assert PASSWORD not in repr(settings)


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
