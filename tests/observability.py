"""Real Prometheus and Alertmanager on loopback ports, and a webhook that records what
Alertmanager sends. A binary that is missing or a server that does not come up is an
error with its log, never a skip."""

from __future__ import annotations

import json
import tempfile
import threading
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from monitor.demo.errors import DemoError, MissingTool
from monitor.demo.processes import Child, find_program
from tests.daemon import free_port


def binary(*names: str) -> str:
    try:
        return find_program(*names)
    except MissingTool as exc:
        raise AssertionError(f"{exc}; `make deps` installs it") from None


class Process(Child):
    """A server process in its own directory, stopped by PID; one that does not come up is
    a test failure with the end of its log."""

    def __init__(self, name: str, args: list[str], workdir: Path, health_url: str) -> None:
        super().__init__(name, args, workdir / f"{name}.log")
        try:
            self.wait_healthy(health_url)
        except DemoError as exc:
            raise AssertionError(f"{name} did not start: {exc}") from None


class PrometheusServer(Process):
    """A Prometheus run with the given configuration and extra flags (agent mode, the
    remote-write receiver); `files` are written next to the configuration, which may name
    them relatively (rule files). `port` for a configuration that must name its own address
    (a Prometheus scraping itself)."""

    def __init__(
        self,
        config: dict[str, Any],
        args: Sequence[str] = (),
        files: Mapping[str, str] | None = None,
        name: str = "prometheus",
        port: int | None = None,
    ) -> None:
        workdir = Path(tempfile.mkdtemp(prefix=f"pgmon-{name}-"))
        for file_name, text in (files or {}).items():
            (workdir / file_name).write_text(text)
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # An agent refuses the TSDB's flags, and a server the agent's.
        storage = "agent" if "--enable-feature=agent" in args else "tsdb"
        argv = [
            binary("prometheus"),
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.{storage}.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            *args,
        ]
        super().__init__(name, argv, workdir, f"{self.url}/-/ready")

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}?{urllib.parse.urlencode(params)}"
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as exc:
            body = json.load(exc)
            raise AssertionError(f"{path} {params}: {body.get('error')}") from None
        assert body["status"] == "success", body
        return body["data"]

    def query(self, expr: str) -> list[dict[str, Any]]:
        data = self.api("query", query=expr)
        result: list[dict[str, Any]] = data["result"]
        return result


class Prometheus(PrometheusServer):
    """Scrapes one pgmon every second, evaluates `rules` and notifies an Alertmanager."""

    def __init__(self, rules: str, scrape_port: int, alertmanager_port: int) -> None:
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": ["rules.yml"],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}
                ]
            },
            "scrape_configs": [
                {
                    "job_name": "pgmon",
                    "static_configs": [{"targets": [f"127.0.0.1:{scrape_port}"]}],
                }
            ],
        }
        super().__init__(config, files={"rules.yml": rules})


class Alertmanager(Process):
    def __init__(self, config: dict[str, Any]) -> None:
        workdir = Path(tempfile.mkdtemp(prefix="pgmon-alertmanager-"))
        (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        args = [
            binary("prometheus-alertmanager", "alertmanager"),
            f"--config.file={workdir / 'alertmanager.yml'}",
            f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # no gossip port: a single instance
        ]
        super().__init__("alertmanager", args, workdir, f"{self.url}/-/ready")


class Webhook:
    """Records every notification, by path (one path per Alertmanager receiver)."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        lock = threading.Lock()
        received = self.received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                payload = json.loads(self.rfile.read(length))
                with lock:
                    received.append((self.path.strip("/"), payload))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def url(self, receiver: str) -> str:
        return f"http://127.0.0.1:{self.port}/{receiver}"

    def alerts(self, receiver: str | None = None) -> list[dict[str, Any]]:
        """Every alert of every notification (to `receiver`), oldest first."""
        return [
            alert
            for path, payload in list(self.received)
            if receiver is None or path == receiver
            for alert in payload["alerts"]
        ]

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def routed_to_webhook(example: dict[str, Any], webhook: Webhook) -> dict[str, Any]:
    """The example configuration with each receiver replaced by the test webhook (one path
    per receiver) and timings short enough for a test; routes and inhibitions unchanged."""
    config = json.loads(json.dumps(example))
    config["global"] = {"resolve_timeout": "1m"}  # no SMTP or Slack secrets here
    config["route"].update(group_wait="1s", group_interval="1s")
    config["receivers"] = [
        {
            "name": receiver["name"],
            "webhook_configs": [{"url": webhook.url(receiver["name"]), "send_resolved": True}],
        }
        for receiver in example["receivers"]
    ]
    return config
