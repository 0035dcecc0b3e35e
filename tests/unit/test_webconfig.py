"""The web config file: a good one gives a TLS context and users; each bad one is a single
message naming the file and the problem, and `pgmon run` / `validate-config` exit with 2."""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest

from monitor.settings import ConfigError
from monitor.webconfig import OPEN, load_web_config
from tests.certs import Authority, bcrypt_hash
from tests.daemon import run_cli


@pytest.fixture(scope="module")
def tls_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate, another server's, a passphrase-protected key, junk."""
    directory = tmp_path_factory.mktemp("tls")
    authority = Authority(directory)
    authority.issue("server")
    authority.issue("other")
    authority.issue("locked", passphrase=b"open sesame")
    (directory / "junk.pem").write_text("not a certificate\n")
    (directory / "a-directory").mkdir()
    return directory


def write(directory: Path, text: str) -> Path:
    path = directory / "web-config.yml"
    path.write_text(text)
    return path


TLS = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"


def test_good_file_gives_tls_and_users(tls_dir: Path) -> None:
    hashed = bcrypt_hash("s3cret")
    path = write(
        tls_dir,
        TLS + "  client_auth_type: VerifyClientCertIfGiven\n"
        "  client_ca_file: pgmon-test-CA.crt\n  min_version: TLS13\n"
        f"basic_auth_users:\n  prometheus: '{hashed}'\n",
    )
    web = load_web_config(path)
    assert web.scheme == "https"
    assert web.tls is not None
    assert web.tls.verify_mode == ssl.CERT_OPTIONAL
    assert web.tls.minimum_version == ssl.TLSVersion.TLSv1_3
    # Relative names are relative to the file's directory, wherever pgmon was started.
    assert web.cert_file == tls_dir / "server.crt"
    assert dict(web.users) == {"prometheus": hashed.encode()}
    assert hashed not in repr(web)


def test_no_file_means_open_plain_http() -> None:
    assert load_web_config(None) is OPEN
    assert OPEN.scheme == "http" and not OPEN.users


def test_basic_auth_alone_keeps_plain_http(tmp_path: Path) -> None:
    web = load_web_config(write(tmp_path, f"basic_auth_users:\n  u: '{bcrypt_hash('p')}'\n"))
    assert web.tls is None and list(web.users) == ["u"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("tls_server_config: [\n", "not valid YAML at line"),
        ("- a\n- list\n", "the top level must be a mapping"),
        ("basic_auth_user:\n  u: x\n", "basic_auth_user: unknown key"),
        (TLS + "  certfile: x\n", "tls_server_config.certfile: unknown key"),
        (TLS + "  cipher_suites: [TLS_AES_128_GCM_SHA256]\n", "cipher_suites: not implemented"),
        ("http_server_config: {http2: true}\n", "http_server_config: not implemented by pgmon"),
        ("tls_server_config:\n  cert_file: server.crt\n", "tls_server_config.key_file: Field"),
        ("basic_auth_users:\n  u: plain-password\n", "user 'u': the password hash is not a bcrypt"),
        (
            "basic_auth_users:\n  u: '$5$rounds=5000$salt$0123456789abcdefghijklmnopqrstuvwx'\n",
            "user 'u': the password hash is not a bcrypt hash",
        ),
        (
            "basic_auth_users:\n  'a:b': '$2y$10$" + "a" * 53 + "'\n",
            "a basic auth user name cannot contain ':'",
        ),
        (TLS + "  min_version: TLS14\n", "min_version: 'TLS14' is not one of TLS10, TLS11"),
        (TLS + "  min_version: TLS13\n  max_version: TLS12\n", "min_version TLS13 is above"),
        (TLS + "  client_auth_type: RequireAnyClientCert\n", "RequireAnyClientCert is not supp"),
        (TLS + "  client_auth_type: Sometimes\n", "'Sometimes' is not one of NoClientCert"),
        (
            TLS + "  client_auth_type: RequireAndVerifyClientCert\n",
            "client_auth_type RequireAndVerifyClientCert needs client_ca_file",
        ),
        (
            TLS + "  client_ca_file: pgmon-test-CA.crt\n",
            "client_ca_file is set but client_auth_type is NoClientCert",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: missing.key\n",
            "tls_server_config.key_file {dir}/missing.key: cannot read it (No such file",
        ),
        (
            "tls_server_config:\n  cert_file: a-directory\n  key_file: server.key\n",
            "tls_server_config.cert_file {dir}/a-directory: cannot read it (Is a directory)",
        ),
        (
            "tls_server_config:\n  cert_file: junk.pem\n  key_file: server.key\n",
            "tls_server_config.cert_file {dir}/junk.pem: no PEM certificate in it",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: junk.pem\n",
            "tls_server_config.key_file {dir}/junk.pem: not a PEM private key",
        ),
        (
            "tls_server_config:\n  cert_file: server.crt\n  key_file: other.key\n",
            "other.key: the key does not belong to the certificate in {dir}/server.crt",
        ),
        (
            "tls_server_config:\n  cert_file: locked.crt\n  key_file: locked.key\n",
            "locked.key: not a PEM private key, or one protected by a passphrase",
        ),
        (
            TLS + "  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: junk.pem\n",
            "tls_server_config.client_ca_file {dir}/junk.pem: no PEM certificate in it",
        ),
    ],
)
def test_bad_file_is_one_message_naming_the_problem(
    tls_dir: Path, text: str, expected: str
) -> None:
    path = write(tls_dir, text)
    with pytest.raises(ConfigError) as raised:
        load_web_config(path)
    message = str(raised.value)
    assert message.startswith(f"web config file {path}: ")
    assert expected.format(dir=tls_dir) in message
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing.yml: cannot read it \(No such file"):
        load_web_config(tmp_path / "missing.yml")


BAD = "basic_auth_users:\n  prometheus: not-a-hash\n"


@pytest.mark.parametrize("command", ["validate-config", "run"])
def test_bad_file_exits_2_before_anything_starts(tmp_path: Path, command: str) -> None:
    path = write(tmp_path, BAD)
    # Nothing listens on port 1: a run that got past the web config would report the
    # target down and go on serving, rather than exit.
    args = ["--dsn", "host=127.0.0.1 port=1 dbname=x"] if command == "run" else []
    result = run_cli(command, "--web.config.file", str(path), *args, timeout=30)
    assert result.returncode == 2, result.stderr
    assert result.stderr.strip() == (
        f"pgmon: web config file {path}: basic_auth_users: "
        "user 'prometheus': the password hash is not a bcrypt hash"
    )


def test_web_config_file_from_environment_and_settings_file(tmp_path: Path) -> None:
    path = write(tmp_path, BAD)
    by_env = run_cli("validate-config", env={"PGMON_WEB_CONFIG_FILE": str(path)})
    assert by_env.returncode == 2 and "not a bcrypt hash" in by_env.stderr
    settings = tmp_path / "pgmon.yaml"
    settings.write_text(f"web_config_file: {path}\n")
    by_file = run_cli("validate-config", "--config", str(settings))
    assert by_file.returncode == 2 and "not a bcrypt hash" in by_file.stderr
    write(tmp_path, f"basic_auth_users:\n  prometheus: '{bcrypt_hash('x')}'\n")
    assert run_cli("validate-config", "--config", str(settings)).returncode == 0


def test_shipped_example_loads(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "deploy" / "web-config.yml"
    (tmp_path / "web-config.yml").write_text(example.read_text())
    issued = Authority(tmp_path).issue("pgmon")
    web = load_web_config(tmp_path / "web-config.yml")
    assert web.cert_file == issued.cert
    assert web.tls is not None and web.tls.minimum_version == ssl.TLSVersion.TLSv1_2
    assert list(web.users) == ["prometheus"]
