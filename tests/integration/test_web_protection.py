"""`pgmon run` with a web config file: every endpoint over TLS and behind basic auth, read by
urllib, by `pgmon healthcheck` and by a real Prometheus (scheme https, tls_config.ca_file,
basic_auth), the way the exporters beside it are protected."""

from __future__ import annotations

import http.client
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.certs import Authority, bcrypt_hash
from tests.daemon import Daemon, run_cli, value, wait_for
from tests.observability import PrometheusServer
from tests.pgserver import MONITOR_ROLE, Cluster

USER, PASSWORD = "prometheus", "scrape-me-1"
PATHS = ("/metrics", "/findings", "/healthz", "/readyz", "/")


@dataclass
class Protected:
    web_config: Path
    ca_file: Path
    password_file: Path


def web_config_text(password: str) -> str:
    return (
        "tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n"
        f"basic_auth_users:\n  {USER}: '{bcrypt_hash(password, cost=10)}'\n"
    )


@pytest.fixture
def protected(tmp_path: Path) -> Protected:
    authority = Authority(tmp_path)
    authority.issue("server")
    web_config = tmp_path / "web-config.yml"
    web_config.write_text(web_config_text(PASSWORD))
    password_file = tmp_path / "password"
    password_file.write_text(PASSWORD + "\n")
    return Protected(web_config, authority.ca.cert, password_file)


def start(cluster: Cluster, protected: Protected) -> Daemon:
    config: dict[str, Any] = {
        "targets": [{"name": "primary", "dsn": cluster.primary.dsn(user=MONITOR_ROLE)}],
        "web_config_file": str(protected.web_config),
    }
    return Daemon(config, ca_file=protected.ca_file, credentials=(USER, PASSWORD))


def plain_http(port: int) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    try:
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_endpoints_need_tls_and_the_password(pg_cluster: Cluster, protected: Protected) -> None:
    with start(pg_cluster, protected) as daemon:
        daemon.wait_ready()
        assert value(daemon.scrape(), "pg_up", target="primary") == 1
        for path in PATHS:
            for wrong in ((USER, "nope"), ("nobody", PASSWORD)):
                status, headers, body = daemon.get(path, credentials=wrong)
                assert status == 401, (path, wrong)
                assert headers["WWW-Authenticate"].startswith("Basic")
            status, headers, body = daemon.get(path, anonymous=True)
            assert status == 401, path
            assert headers["WWW-Authenticate"].startswith("Basic")
            assert b"pg_up" not in body
            assert daemon.get(path)[0] == 200, path

        # Plain HTTP on the TLS port gets an error, and does not disturb the TLS clients.
        status, body = plain_http(daemon.port)
        assert status == 400 and b"https://" in body
        assert value(daemon.scrape(), "pg_up", target="primary") == 1
        assert daemon.proc.poll() is None
    assert daemon.proc.returncode == 0
    assert PASSWORD not in daemon.logs()


def test_healthcheck_over_tls_with_basic_auth(pg_cluster: Cluster, protected: Protected) -> None:
    with start(pg_cluster, protected) as daemon:
        env = {
            "PGMON_LISTEN": f"0.0.0.0:{daemon.port}",
            "PGMON_WEB_CONFIG_FILE": str(protected.web_config),
        }
        refused = run_cli("healthcheck", env=env)
        assert refused.returncode == 1
        assert "401" in refused.stderr
        credentials = {
            "PGMON_HEALTHCHECK__USERNAME": USER,
            "PGMON_HEALTHCHECK__PASSWORD_FILE": str(protected.password_file),
        }
        done = run_cli("healthcheck", env={**env, **credentials})
        assert done.returncode == 0, done.stderr


def test_sighup_applies_a_new_password(pg_cluster: Cluster, protected: Protected) -> None:
    with start(pg_cluster, protected) as daemon:
        protected.web_config.write_text(web_config_text("rotated-2"))
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: daemon.get("/healthz")[0] == 401, 20, "the old password to be refused")
        assert daemon.get("/healthz", credentials=(USER, "rotated-2"))[0] == 200
        # A broken file on the next reload keeps the protection in force.
        protected.web_config.write_text("basic_auth_users:\n  prometheus: plain\n")
        daemon.proc.send_signal(signal.SIGHUP)
        wait_for(lambda: "reload_failed" in daemon.logs(), 20, "the reload to fail")
        assert daemon.get("/healthz", anonymous=True)[0] == 401
        assert daemon.get("/healthz", credentials=(USER, "rotated-2"))[0] == 200


def test_prometheus_scrapes_over_tls_with_basic_auth(
    pg_cluster: Cluster, protected: Protected
) -> None:
    with start(pg_cluster, protected) as daemon:
        target = f"127.0.0.1:{daemon.port}"
        job: dict[str, Any] = {
            "job_name": "pgmon",
            "scheme": "https",
            "tls_config": {"ca_file": str(protected.ca_file)},
            "basic_auth": {"username": USER, "password_file": str(protected.password_file)},
            "static_configs": [{"targets": [target]}],
        }
        wrong = {
            **job,
            "job_name": "wrong-password",
            "basic_auth": {"username": USER, "password": "guess"},
        }
        config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [job, wrong]}
        prometheus = PrometheusServer(config)
        try:
            wait_for(
                lambda: prometheus.query('pg_up{job="pgmon",target="primary"} == 1'),
                60,
                "Prometheus to scrape pg_up over https with basic auth",
            )
            failing = wait_for(
                lambda: [
                    t
                    for t in prometheus.api("targets")["activeTargets"]
                    if t["labels"]["job"] == "wrong-password" and t["health"] == "down"
                ],
                60,
                "the scrape with a wrong password to fail",
            )
            assert "401" in failing[0]["lastError"], failing[0]
            assert prometheus.query('up{job="pgmon"} == 1')
        finally:
            prometheus.stop()
