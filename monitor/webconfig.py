"""The web configuration file of Prometheus exporters: TLS for the HTTP server and the users
let in with basic auth. The same file can serve pgmon and the exporters beside it.

Read before anything starts (and again on SIGHUP): a file that cannot be read, a key pgmon
does not know, a certificate or key that does not load, a hash that is not bcrypt, each is a
ConfigError naming the file and the key.
"""

from __future__ import annotations

import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from monitor.settings import ConfigError

# $2a$, $2b$ and $2y$ (htpasswd writes $2y$), a cost of 4 to 31, 22 characters of salt and
# 31 of hash in bcrypt's own base64 alphabet.
BCRYPT = re.compile(r"^\$2[aby]\$(0[4-9]|[12][0-9]|3[01])\$[./A-Za-z0-9]{53}$")

TLS_VERSIONS = {
    "TLS10": ssl.TLSVersion.TLSv1,
    "TLS11": ssl.TLSVersion.TLSv1_1,
    "TLS12": ssl.TLSVersion.TLSv1_2,
    "TLS13": ssl.TLSVersion.TLSv1_3,
}
TlsVersion = Literal["TLS10", "TLS11", "TLS12", "TLS13"]

# Python's ssl module verifies every client certificate it asks for: the two Go policies that
# accept an unverified certificate have no equivalent.
CLIENT_AUTH = {
    "NoClientCert": ssl.CERT_NONE,
    "VerifyClientCertIfGiven": ssl.CERT_OPTIONAL,
    "RequireAndVerifyClientCert": ssl.CERT_REQUIRED,
}
UNVERIFIED_CLIENT_AUTH = ("RequestClientCert", "RequireAnyClientCert")

# Keys of the exporters' format that pgmon does not implement: named as such, not as typos.
NOT_IMPLEMENTED = {
    "http_server_config",
    "cert",
    "key",
    "client_allowed_sans",
    "cipher_suites",
    "curve_preferences",
    "prefer_server_cipher_suites",
}


class TlsServerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    cert_file: str
    key_file: str
    client_auth_type: str = "NoClientCert"
    client_ca_file: str | None = None
    min_version: TlsVersion = "TLS12"
    max_version: TlsVersion = "TLS13"

    @field_validator("client_auth_type")
    @classmethod
    def _known_policy(cls, value: str) -> str:
        if value in UNVERIFIED_CLIENT_AUTH:
            raise ValueError(
                f"{value} is not supported: pgmon verifies every client certificate "
                "(use VerifyClientCertIfGiven or RequireAndVerifyClientCert with client_ca_file)"
            )
        if value not in CLIENT_AUTH:
            raise ValueError(f"{value!r} is not one of {', '.join(CLIENT_AUTH)}")
        return value

    @model_validator(mode="after")
    def _ca_matches_policy(self) -> TlsServerConfig:
        verifies = self.client_auth_type != "NoClientCert"
        if verifies and not self.client_ca_file:
            raise ValueError(f"client_auth_type {self.client_auth_type} needs client_ca_file")
        if self.client_ca_file and not verifies:
            raise ValueError("client_ca_file is set but client_auth_type is NoClientCert")
        if TLS_VERSIONS[self.min_version] > TLS_VERSIONS[self.max_version]:
            raise ValueError(f"min_version {self.min_version} is above max_version")
        return self


class WebConfigFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    tls_server_config: TlsServerConfig | None = None
    basic_auth_users: dict[str, str] | None = None

    @field_validator("basic_auth_users")
    @classmethod
    def _bcrypt_hashes(cls, users: dict[str, str] | None) -> dict[str, str] | None:
        for user, hashed in (users or {}).items():
            if ":" in user:
                raise ValueError(f"user {user!r}: a basic auth user name cannot contain ':'")
            if not BCRYPT.match(hashed):
                raise ValueError(f"user {user!r}: the password hash is not a bcrypt hash")
        return users


@dataclass(frozen=True)
class WebConfig:
    """What the HTTP server applies: a TLS context (None: plain HTTP) and user -> hash."""

    tls: ssl.SSLContext | None = None
    users: Mapping[str, bytes] = field(default_factory=dict, repr=False)
    cert_file: Path | None = None  # the healthcheck pins the certificate it expects

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"


OPEN = WebConfig()


def _read(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"web config file {path}: cannot read it ({reason})") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"web config file {path}: not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"web config file {path}: the top level must be a mapping")
    return data


def _describe(error: Mapping[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        last = str(error["loc"][-1])
        message = "not implemented by pgmon" if last in NOT_IMPLEMENTED else "unknown key"
    elif error["type"] == "literal_error":
        message = f"{error['input']!r} is not one of {', '.join(TLS_VERSIONS)}"
    return f"{location}: {message}"


def _readable(path: Path, key: str, source: str) -> None:
    try:
        path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{source}: {key} {path}: cannot read it ({exc.strerror})") from None


def _server_context(tls: TlsServerConfig, base: Path, source: str) -> tuple[ssl.SSLContext, Path]:
    cert, key = base / tls.cert_file, base / tls.key_file
    _readable(cert, "tls_server_config.cert_file", source)
    _readable(key, "tls_server_config.key_file", source)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = TLS_VERSIONS[tls.min_version]
    context.maximum_version = TLS_VERSIONS[tls.max_version]
    try:
        # Parsed on its own first, so that an error can say which of the two files is bad.
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_verify_locations(cafile=cert)
    except ssl.SSLError:
        raise ConfigError(
            f"{source}: tls_server_config.cert_file {cert}: no PEM certificate in it"
        ) from None
    try:
        # A passphrase callback, or OpenSSL would ask for one on the terminal.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        if exc.reason == "KEY_VALUES_MISMATCH":
            problem = f"the key does not belong to the certificate in {cert}"
        else:
            problem = "not a PEM private key, or one protected by a passphrase (not supported)"
        raise ConfigError(f"{source}: tls_server_config.key_file {key}: {problem}") from None
    if tls.client_ca_file:
        ca = base / tls.client_ca_file
        _readable(ca, "tls_server_config.client_ca_file", source)
        try:
            context.load_verify_locations(cafile=ca)
        except ssl.SSLError:
            raise ConfigError(
                f"{source}: tls_server_config.client_ca_file {ca}: no PEM certificate in it"
            ) from None
    context.verify_mode = CLIENT_AUTH[tls.client_auth_type]
    return context, cert


def load_web_config(path: str | Path | None) -> WebConfig:
    """The file's TLS context and users; no file, open endpoints over plain HTTP. Relative
    file names in it are relative to the file's own directory, as for the exporters."""
    if path is None or str(path) == "":
        return OPEN
    path = Path(path)
    source = f"web config file {path}"
    try:
        parsed = WebConfigFile.model_validate(_read(path))
    except ValidationError as exc:
        problems = "; ".join(_describe(e) for e in exc.errors())
        raise ConfigError(f"{source}: {problems}") from None
    context, cert = (None, None)
    if parsed.tls_server_config is not None:
        context, cert = _server_context(parsed.tls_server_config, path.parent, source)
    users = {user: hashed.encode() for user, hashed in (parsed.basic_auth_users or {}).items()}
    return WebConfig(context, users, cert)
