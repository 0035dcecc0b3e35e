"""The HTTP side: /metrics from cached bytes, /healthz, /readyz. No SQL ever runs here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import choose_encoder

from monitor.snapshot import SnapshotStore

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self,
        address: tuple[str, int],
        store: SnapshotStore,
        ready: Callable[[], tuple[bool, str]],
        findings: Callable[[], bytes],
        openmetrics: bool,
    ) -> None:
        if ":" in address[0]:
            import socket

            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.store = store
        self.ready = ready
        self.findings = findings
        self.openmetrics = openmetrics


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        if path == "/metrics":
            self._metrics()
        elif path == "/healthz":
            self._send(200, b"ok\n", "text/plain; charset=utf-8")
        elif path == "/findings":
            self._send(200, self.server.findings(), "application/json")
        elif path == "/readyz":
            ready, detail = self.server.ready()
            self._send(200 if ready else 503, detail.encode() + b"\n", "text/plain; charset=utf-8")
        elif path == "/":
            page = (
                b'<html><body><h1>pgmon</h1><a href="/metrics">metrics</a> '
                b'<a href="/findings">findings</a></body></html>\n'
            )
            self._send(200, page, "text/html; charset=utf-8")
        else:
            self._send(404, b"not found\n", "text/plain; charset=utf-8")

    def _metrics(self) -> None:
        _, content_type = choose_encoder(self.headers.get("Accept", ""))
        openmetrics = self.server.openmetrics and content_type.startswith(
            "application/openmetrics-text"
        )
        if not openmetrics:
            content_type = TEXT_TYPE
        if "gzip" in self.headers.get("Accept-Encoding", ""):
            gzipped = self.server.store.render(openmetrics=openmetrics, gzipped=True)
            self._send(200, gzipped, content_type, encoding="gzip")
        else:
            self._send(200, self.server.store.render(openmetrics=openmetrics), content_type)

    def _send(self, status: int, body: bytes, content_type: str, encoding: str = "") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_HEAD(self) -> None:
        self.do_GET()

    def log_message(self, format: str, *args: object) -> None:
        """Scrapes every few seconds are not news; errors surface through the daemon's log."""


class HttpServer:
    def __init__(
        self,
        host: str,
        port: int,
        store: SnapshotStore,
        ready: Callable[[], tuple[bool, str]],
        findings: Callable[[], bytes],
        openmetrics: bool = False,
    ) -> None:
        self._server = _Server((host, port), store, ready, findings, openmetrics)
        self._thread = threading.Thread(target=self._server.serve_forever, name="http", daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
