"""`pgmon healthcheck`: asks the local daemon's /healthz the way the daemon wants to be asked,
with the scheme, credentials and client certificate its settings name.

Over TLS the probe does not verify the certificate against a CA: it talks to 127.0.0.1 (not
a name the certificate is likely to carry) and instead checks that the listener presents the
very certificate of the web config's `cert_file`, before it sends a password.
"""

from __future__ import annotations

import base64
import http.client
import re
import ssl
import urllib.parse
from pathlib import Path

from monitor.settings import HealthcheckSettings, Settings, split_listen
from monitor.webconfig import WebConfig, load_web_config

PEM_CERTIFICATE = re.compile(r"-----BEGIN CERTIFICATE-----.+?-----END CERTIFICATE-----", re.S)


class ProbeFailed(Exception):
    """The daemon did not answer /healthz with 200; the message says what happened."""


def probe(settings: Settings, url: str | None = None, timeout: float = 5.0) -> None:
    web = load_web_config(settings.web_config_file)
    if url is None:
        _, port = split_listen(settings.listen)
        url = f"{web.scheme}://127.0.0.1:{port}/healthz"
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ProbeFailed(f"{url}: not an http:// or https:// URL")
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=_context(web, settings.healthcheck)
        )
    else:
        connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.connect()
        if parts.scheme == "https" and web.cert_file is not None:
            _check_pinned(connection, web.cert_file)
        path = parts.path or "/"
        target = f"{path}?{parts.query}" if parts.query else path
        connection.request("GET", target, headers=_authorization(settings.healthcheck))
        response = connection.getresponse()
        response.read()
    except OSError as exc:
        raise ProbeFailed(f"{url}: {exc}") from None
    finally:
        connection.close()
    if response.status != 200:
        raise ProbeFailed(f"{url}: {response.status} {response.reason}")


def _context(web: WebConfig, healthcheck: HealthcheckSettings) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if web.cert_file is not None:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # pinned instead, see _check_pinned
    else:
        context.load_default_certs()
    if healthcheck.cert_file is not None and healthcheck.key_file is not None:
        try:
            context.load_cert_chain(healthcheck.cert_file, healthcheck.key_file, lambda: b"")
        except (OSError, ssl.SSLError) as exc:
            raise ProbeFailed(f"healthcheck.cert_file/key_file: cannot load them ({exc})") from None
    return context


def _check_pinned(connection: http.client.HTTPConnection, cert_file: Path) -> None:
    assert isinstance(connection.sock, ssl.SSLSocket)
    found = PEM_CERTIFICATE.search(cert_file.read_text(encoding="ascii", errors="replace"))
    expected = ssl.PEM_cert_to_DER_cert(found.group(0)) if found else b""
    presented = connection.sock.getpeercert(binary_form=True)
    if presented != expected:
        raise ProbeFailed(
            f"the listener does not present the certificate of {cert_file}: not this daemon"
        )


def _authorization(healthcheck: HealthcheckSettings) -> dict[str, str]:
    if healthcheck.username is None or healthcheck.password_file is None:
        return {}
    try:
        password = healthcheck.password_file.read_bytes().strip()
    except OSError as exc:
        raise ProbeFailed(
            f"healthcheck.password_file {healthcheck.password_file}: cannot read it "
            f"({exc.strerror})"
        ) from None
    token = base64.b64encode(healthcheck.username.encode() + b":" + password).decode()
    return {"Authorization": f"Basic {token}"}
