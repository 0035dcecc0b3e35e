"""The HTTP server behind a web config file, in process: TLS, client certificates, basic
auth on every path, plain HTTP refused without harm, and `pgmon healthcheck` getting in."""

from __future__ import annotations

import base64
import http.client
import socket
import ssl
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from monitor.http import HttpServer
from monitor.snapshot import SnapshotStore
from monitor.webconfig import load_web_config
from tests.certs import Authority, Issued, bcrypt_hash
from tests.unit.test_exposition import snapshot

PATHS = ("/metrics", "/findings", "/healthz", "/readyz", "/")


@dataclass
class Pki:
    directory: Path
    authority: Authority
    server: Issued
    client: Issued
    stranger: Issued  # a client certificate from another CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    authority = Authority(directory)
    elsewhere = Authority(tmp_path_factory.mktemp("elsewhere"), name="another CA")
    return Pki(
        directory,
        authority,
        authority.issue("server"),
        authority.issue("scraper", client=True),
        elsewhere.issue("stranger", client=True),
    )


def web_config(pki: Pki, text: str) -> Path:
    path = pki.directory / "web-config.yml"
    path.write_text(text)
    return path


TLS = "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
USERS = f"basic_auth_users:\n  prometheus: '{bcrypt_hash('s3cret')}'\n"


@pytest.fixture
def serve(pki: Pki) -> Iterator[list[HttpServer]]:
    started: list[HttpServer] = []
    yield started
    for server in started:
        server.stop()


def start(started: list[HttpServer], path: Path) -> HttpServer:
    store = SnapshotStore()
    store.put(snapshot("a", 5))
    server = HttpServer(
        "127.0.0.1", 0, store, lambda: (True, "ready"), lambda: b"[]", web=load_web_config(path)
    )
    server.start()
    started.append(server)
    return server


def client_context(pki: Pki, cert: Issued | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.authority.ca.cert))
    if cert is not None:
        context.load_cert_chain(cert.cert, cert.key)
    return context


def get(
    server: HttpServer,
    path: str,
    context: ssl.SSLContext | None = None,
    credentials: str | None = None,
) -> tuple[int, dict[str, str], bytes]:
    connection: http.client.HTTPConnection = (
        http.client.HTTPSConnection("127.0.0.1", server.port, timeout=5, context=context)
        if context
        else http.client.HTTPConnection("127.0.0.1", server.port, timeout=5)
    )
    headers = {}
    if credentials is not None:
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        return response.status, dict(response.headers), response.read()
    finally:
        connection.close()


def test_every_path_over_tls_needs_the_password(pki: Pki, serve: list[HttpServer]) -> None:
    server = start(serve, web_config(pki, TLS + USERS))
    context = client_context(pki)
    for path in PATHS:
        for credentials in (None, "prometheus:wrong", "nobody:s3cret"):
            status, headers, body = get(server, path, context, credentials)
            assert status == 401, (path, credentials)
            assert headers["WWW-Authenticate"].startswith("Basic realm=")
            assert b"pg_stat_database" not in body
        status, _, body = get(server, path, context, "prometheus:s3cret")
        assert status == 200, path
        if path == "/metrics":
            assert b"pg_stat_database_xact_commit" in body


def test_plain_http_to_the_tls_port_is_refused_and_tls_goes_on(
    pki: Pki, serve: list[HttpServer]
) -> None:
    server = start(serve, web_config(pki, TLS))
    status, _, body = get(server, "/healthz")
    assert status == 400
    assert b"https://" in body
    assert get(server, "/healthz", client_context(pki))[0] == 200


def test_a_silent_client_does_not_hold_up_the_others(pki: Pki, serve: list[HttpServer]) -> None:
    server = start(serve, web_config(pki, TLS))
    with socket.create_connection(("127.0.0.1", server.port)):
        # Connected, never says a word; others are served meanwhile.
        assert get(server, "/healthz", client_context(pki))[0] == 200


def test_server_certificate_is_checked_by_clients(pki: Pki, serve: list[HttpServer]) -> None:
    server = start(serve, web_config(pki, TLS))
    with pytest.raises(ssl.SSLCertVerificationError):
        get(server, "/healthz", ssl.create_default_context())  # the system's CAs only


def test_client_certificate_required(pki: Pki, serve: list[HttpServer]) -> None:
    server = start(
        serve,
        web_config(
            pki,
            TLS + "  client_auth_type: RequireAndVerifyClientCert\n"
            "  client_ca_file: pgmon-test-CA.crt\n",
        ),
    )
    assert get(server, "/healthz", client_context(pki, pki.client))[0] == 200
    for refused in (None, pki.stranger):
        with pytest.raises((ssl.SSLError, ConnectionError)):
            get(server, "/healthz", client_context(pki, refused))
    assert get(server, "/healthz", client_context(pki, pki.client))[0] == 200


def test_minimum_tls_version(pki: Pki, serve: list[HttpServer]) -> None:
    server = start(serve, web_config(pki, TLS + "  min_version: TLS13\n"))
    old = client_context(pki)
    old.maximum_version = ssl.TLSVersion.TLSv1_2
    with pytest.raises(ssl.SSLError):
        get(server, "/healthz", old)
    assert get(server, "/healthz", client_context(pki))[0] == 200


def test_basic_auth_without_tls(pki: Pki, serve: list[HttpServer]) -> None:
    server = start(serve, web_config(pki, USERS))
    assert get(server, "/metrics")[0] == 401
    assert get(server, "/metrics", credentials="prometheus:s3cret")[0] == 200


def test_new_protection_applies_to_the_next_request(pki: Pki, serve: list[HttpServer]) -> None:
    server = start(serve, web_config(pki, USERS))
    changed = f"basic_auth_users:\n  prometheus: '{bcrypt_hash('n3w')}'\n"
    server.protect(load_web_config(web_config(pki, changed)))
    assert get(server, "/healthz", credentials="prometheus:s3cret")[0] == 401
    assert get(server, "/healthz", credentials="prometheus:n3w")[0] == 200


def test_healthcheck_command_gets_through_tls_and_basic_auth(
    pki: Pki, serve: list[HttpServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from monitor.cli import main

    path = web_config(pki, TLS + USERS)
    server = start(serve, path)
    password = tmp_path / "password"
    password.write_text("s3cret\n")  # as a secret file often ends
    monkeypatch.setenv("PGMON_LISTEN", f"0.0.0.0:{server.port}")
    monkeypatch.setenv("PGMON_WEB_CONFIG_FILE", str(path))
    assert main(["healthcheck"]) == 1  # 401 without the credentials
    monkeypatch.setenv("PGMON_HEALTHCHECK__USERNAME", "prometheus")
    monkeypatch.setenv("PGMON_HEALTHCHECK__PASSWORD_FILE", str(password))
    assert main(["healthcheck"]) == 0
    monkeypatch.delenv("PGMON_WEB_CONFIG_FILE")
    assert main(["healthcheck", "--web.config.file", str(path)]) == 0
    assert main(["healthcheck"]) == 1  # plain HTTP to a TLS port


def test_healthcheck_refuses_a_listener_with_another_certificate(
    pki: Pki, serve: list[HttpServer], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from monitor.cli import main

    server = start(serve, web_config(pki, TLS))
    impostor = pki.authority.issue("impostor")
    expected = tmp_path / "web-config.yml"
    expected.write_text(
        f"tls_server_config:\n  cert_file: {impostor.cert}\n  key_file: {impostor.key}\n"
    )
    monkeypatch.setenv("PGMON_LISTEN", f"127.0.0.1:{server.port}")
    assert main(["healthcheck", "--web.config.file", str(expected)]) == 1
    assert main(["healthcheck", "--web.config.file", str(pki.directory / "web-config.yml")]) == 0


def test_healthcheck_with_a_client_certificate(
    pki: Pki, serve: list[HttpServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    from monitor.cli import main

    path = web_config(
        pki,
        TLS + "  client_auth_type: RequireAndVerifyClientCert\n"
        "  client_ca_file: pgmon-test-CA.crt\n",
    )
    server = start(serve, path)
    monkeypatch.setenv("PGMON_LISTEN", f"127.0.0.1:{server.port}")
    monkeypatch.setenv("PGMON_WEB_CONFIG_FILE", str(path))
    assert main(["healthcheck"]) == 1
    monkeypatch.setenv("PGMON_HEALTHCHECK__CERT_FILE", str(pki.client.cert))
    monkeypatch.setenv("PGMON_HEALTHCHECK__KEY_FILE", str(pki.client.key))
    assert main(["healthcheck"]) == 0
