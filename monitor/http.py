"""The HTTP side: /metrics from cached bytes, /healthz, /readyz. No SQL ever runs here.

With a web config file, every path is served over TLS and/or behind basic auth."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from prometheus_client.exposition import choose_encoder

from monitor.basicauth import BasicAuth
from monitor.logs import get_logger
from monitor.snapshot import SnapshotStore
from monitor.webconfig import OPEN, WebConfig

TEXT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# An uncompressed exposition goes out in pieces of about this size: each one a single write,
# and no copy of the whole body.
CHUNK_BYTES = 1 << 20
# Long enough for a client far away, short enough that silent connections do not pile up.
HANDSHAKE_TIMEOUT = 10.0
# How often the accept loop wakes up with nothing to do, only to see whether it should stop
# (stop() wakes it at once). At socketserver's default of 0.5 s that was a tenth of the
# daemon's CPU on a small server.
POLL_SECONDS = 10.0
TLS_HANDSHAKE_RECORD = b"\x16"
PLAIN_HTTP_ANSWER = (
    b"HTTP/1.1 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\n"
    b"Connection: close\r\n\r\nThis server speaks HTTPS only: use an https:// URL.\n"
)

log = get_logger()


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
        web: WebConfig,
    ) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.store = store
        self.ready = ready
        self.findings = findings
        self.openmetrics = openmetrics
        self.protect(web)

    def protect(self, web: WebConfig) -> None:
        """TLS applies to connections accepted from now on, basic auth to requests from now on
        (kept-alive connections included); each attribute is replaced whole."""
        self.tls = web.tls
        self.auth = BasicAuth(web.users) if web.users else None

    def finish_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        """The TLS handshake happens here, in the connection's own thread: done at accept
        time, one client that never speaks would hold up every other."""
        tls = self.tls
        if tls is None:
            super().finish_request(request, client_address)
            return
        try:
            request.settimeout(HANDSHAKE_TIMEOUT)
            first = request.recv(1, socket.MSG_PEEK)
            if first != TLS_HANDSHAKE_RECORD:
                _refuse_plain_http(request)
                return
            connection = tls.wrap_socket(request, server_side=True)
        except OSError as exc:  # ssl.SSLError too: no client certificate, no common version
            log.debug("tls_handshake_failed", client=str(client_address), error=str(exc))
            return
        try:
            connection.settimeout(None)
            super().finish_request(connection, client_address)
        finally:
            self.shutdown_request(connection)


def _refuse_plain_http(request: socket.socket) -> None:
    """An answer a person can read, rather than a reset, for an http:// URL."""
    request.recv(65536)
    request.sendall(PLAIN_HTTP_ANSWER)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        auth = self.server.auth
        if auth is not None and not auth.allows(self.headers.get("Authorization")):
            self._send(
                401,
                b"unauthorized\n",
                "text/plain; charset=utf-8",
                headers={"WWW-Authenticate": 'Basic realm="pgmon", charset="UTF-8"'},
            )
            return
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
            gzipped = self.server.store.gzipped(openmetrics=openmetrics)
            self._send(200, gzipped, content_type, encoding="gzip")
        else:
            self._send(200, self.server.store.pieces(openmetrics=openmetrics), content_type)

    def _send(
        self,
        status: int,
        body: bytes | list[bytes],
        content_type: str,
        encoding: str = "",
        headers: dict[str, str] | None = None,
    ) -> None:
        """`body` as one byte string, or as pieces (an uncompressed exposition), which go
        out a chunk of about CHUNK_BYTES at a time and are never joined whole."""
        pieces = [body] if isinstance(body, bytes) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(sum(map(len, pieces))))
        if encoding:
            self.send_header("Content-Encoding", encoding)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if self.command == "HEAD":
            return
        chunk: list[bytes] = []
        size = 0
        for piece in pieces:
            chunk.append(piece)
            size += len(piece)
            if size >= CHUNK_BYTES:
                self.wfile.write(b"".join(chunk))
                chunk, size = [], 0
        if chunk:
            self.wfile.write(b"".join(chunk))

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
        web: WebConfig = OPEN,
    ) -> None:
        self._server = _Server((host, port), store, ready, findings, openmetrics, web)
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(POLL_SECONDS,), name="http", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def scheme(self) -> str:
        return "https" if self._server.tls else "http"

    def protect(self, web: WebConfig) -> None:
        self._server.protect(web)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        # Shutting the listening socket down wakes serve_forever's wait at once (the socket
        # reads as ready from then on, and accepting fails), so it sees the stop request
        # without waiting for its poll.
        with contextlib.suppress(OSError):
            self._server.socket.shutdown(socket.SHUT_RDWR)
        self._server.shutdown()
        self._server.server_close()
