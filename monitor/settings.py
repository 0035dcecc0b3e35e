"""The single source of configuration: defaults < YAML file < PGMON_* environment < command line."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    InitSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from monitor.dsn import check_dsn
from monitor.durations import Seconds

DEFAULT_PORT = 9189
ENV_PREFIX = "PGMON_"


# Line breaks and other control characters, which a value quoted in a message may hold.
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f\u2028\u2029]")


class ConfigError(Exception):
    """A configuration problem, worded for the operator (names the key and the problem).

    Always one line: control characters of values quoted in it are escaped."""

    def __init__(self, message: str) -> None:
        super().__init__(_CONTROL.sub(lambda m: repr(m.group())[1:-1], message))


class CollectorSettings(BaseModel):
    """Overrides for one collector; anything left unset keeps the collector's default."""

    model_config = ConfigDict(extra="forbid")

    enabled: bool | None = Field(None, description="Run this collector.")
    interval: Seconds | None = Field(None, description="Time between runs.")
    timeout: Seconds | None = Field(
        None, description="Longest a run may take, waiting for the connection included."
    )
    top_n: PositiveInt | None = Field(
        None,
        description="Cardinality bound: statements kept (statements); relations kept per "
        "target, over all its databases (indexes, tables), the rest summed into one series "
        "per database; sequences kept per database (sequences).",
    )
    query_text: bool | None = Field(
        None,
        description="statements only: export the query text (`pg_stat_statements_query_info`; "
        "default on). Off, pgmon never reads the text.",
    )


class DatabaseFilter(BaseModel):
    model_config = ConfigDict(extra="forbid")

    include: list[str] = Field(
        default_factory=list,
        description="Shell-style patterns; when set, only matching databases are visited.",
    )
    exclude: list[str] = Field(
        default_factory=list, description="Shell-style patterns of databases never visited."
    )


class IgnoreRuleSettings(BaseModel):
    """A finding the team has accepted: check id and object (and target) as shell patterns."""

    model_config = ConfigDict(extra="forbid")

    check: str = Field(description="Check id, or a pattern such as `*_index`.")
    object: str = Field("*", description="Object pattern, e.g. `public.audit_*`.")
    target: str = Field("*", description="Target pattern (global rules only).")


class FindingsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    interval: Seconds = Field(
        15.0,
        description="Time between evaluations of the heuristics over the cached rows (cheap: "
        "no SQL; the rows behind expensive checks refresh on their collectors' schedules).",
    )
    thresholds: dict[str, dict[str, float]] = Field(
        default_factory=dict,
        description="Per check id, threshold overrides: `{unused_index: {min_size_bytes: 0}}`.",
    )
    ignore: list[IgnoreRuleSettings] = Field(
        default_factory=list, description="Accepted findings, never reported."
    )
    max_series_per_check: PositiveInt = Field(
        100, description="Per target and check, at most this many `pgmon_finding` series."
    )


class TargetSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(
        None,
        description="Value of the `target` label; default host:port/dbname.",
        json_schema_extra={"shown_default": "host:port/dbname"},
    )
    dsn: str = Field(description="libpq URI or key=value string.", repr=False)
    password_file: Path | None = Field(
        None,
        description="File holding this target's password (instead of the global `password_file`).",
    )
    databases: DatabaseFilter = Field(
        default_factory=DatabaseFilter,
        description="Which databases per-database collectors visit (templates never).",
    )
    collectors: dict[str, CollectorSettings] = Field(
        default_factory=dict, description="Per-collector overrides for this target."
    )
    ignore: list[IgnoreRuleSettings] = Field(
        default_factory=list, description="Accepted findings on this target only."
    )

    @field_validator("dsn")
    @classmethod
    def _dsn_parses(cls, value: str) -> str:
        check_dsn(value)
        return value

    @field_validator("password_file")
    @classmethod
    def _password_readable(cls, value: Path | None) -> Path | None:
        return check_password_file(value)


class HealthcheckSettings(BaseModel):
    """How `pgmon healthcheck` gets past the endpoints' protection: the daemon ignores these."""

    model_config = ConfigDict(extra="forbid")

    username: str | None = Field(
        None, description="Basic auth user, when the web config file has `basic_auth_users`."
    )
    password_file: Path | None = Field(None, description="File holding that user's password.")
    cert_file: Path | None = Field(
        None, description="Client certificate, when the listener requires one."
    )
    key_file: Path | None = Field(None, description="Key of that client certificate.")

    @model_validator(mode="after")
    def _in_pairs(self) -> HealthcheckSettings:
        for first, second in (("username", "password_file"), ("cert_file", "key_file")):
            if (getattr(self, first) is None) != (getattr(self, second) is None):
                raise ValueError(f"{first} and {second} go together")
        return self


class Settings(BaseSettings):
    """pgmon settings. Every field can be set as PGMON_<FIELD> (nested: PGMON_A__B)."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", validate_default=True
    )

    listen: str = Field(f"0.0.0.0:{DEFAULT_PORT}", description="HOST:PORT of the HTTP server.")
    web_config_file: Path | None = Field(
        None,
        description="TLS and basic auth for every endpoint, in the web config format of the "
        'Prometheus exporters (see "Protecting the endpoints"); `--web.config.file` on '
        "the command line. Re-read on SIGHUP.",
    )
    healthcheck: HealthcheckSettings = Field(
        default_factory=HealthcheckSettings,
        description="Credentials of `pgmon healthcheck` for a protected listener.",
    )
    openmetrics: bool = Field(
        False,
        description="Answer scrapers that ask for OpenMetrics in that format. Off, as in "
        "postgres_exporter, because under OpenMetrics Prometheus stores counters whose names "
        "lack `_total` (`pg_stat_database_deadlocks`, ...) with `_total` appended, which breaks "
        "dashboards and rules written for postgres_exporter (and ours).",
    )
    dsn: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        repr=False,
        description="Targets given as bare DSNs (repeatable on the command line; in the "
        "environment one DSN, or a JSON list).",
    )
    targets: list[TargetSettings] = Field(
        default_factory=list, description="Targets with a name and per-target settings."
    )
    password_file: Path | None = Field(
        None,
        description="File holding the password of every target (e.g. a mounted Kubernetes "
        "secret), read at each connection, so that a rotated password is used from the next "
        "reconnection on; a trailing newline is not part of the password. Wins over a "
        "password in the DSN, `PGPASSWORD` and the passfile.",
    )
    collectors: dict[str, CollectorSettings] = Field(
        default_factory=dict, description="Per-collector overrides for every target."
    )
    findings: FindingsSettings = Field(
        default_factory=FindingsSettings, description="Heuristics: schedule, thresholds, ignores."
    )
    statement_timeout: Seconds = Field(
        5.0,
        description="statement_timeout of pgmon's statements (capped by the run's timeout); "
        "index_catalog and bloat, which read a whole catalogue in one statement, allow 45s.",
    )
    lock_timeout: Seconds = Field(
        0.1, description="lock_timeout of every pgmon session: never queue behind a lock."
    )
    connect_timeout: Seconds = Field(5.0, description="Time allowed to open a connection.")
    reconnect_backoff_max: Seconds = Field(
        60.0, description="Longest wait between reconnection attempts to a target that is down."
    )
    shard_count: PositiveInt = Field(
        1,
        description="Number of pgmon daemons sharing the target list (Prometheus hashmod): "
        "each keeps the targets whose name hashes to its `shard_index`.",
    )
    shard_index: NonNegativeInt = Field(
        0, description="This daemon's shard, from 0 to `shard_count` - 1."
    )
    max_connections: NonNegativeInt = Field(
        0,
        description="Most sessions the daemon holds over all targets and databases (0: no "
        "limit, i.e. one per target and visited database). At the limit, the least recently "
        "used idle session is closed; a run that finds none idle fails after its timeout.",
    )
    log_level: str = Field("info", description="debug, info, warning or error.")
    log_format: str = Field("auto", description="json, console, or auto (json unless a terminal).")

    @field_validator("dsn", mode="before")
    @classmethod
    def _split_dsn(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return yaml.safe_load(text)
                except yaml.YAMLError:
                    raise ValueError("a list of DSNs must be written as JSON") from None
            return [text] if text else []
        return value

    @field_validator("dsn")
    @classmethod
    def _dsns_parse(cls, value: list[str]) -> list[str]:
        for dsn in value:
            check_dsn(dsn)
        return value

    @field_validator("password_file")
    @classmethod
    def _password_readable(cls, value: Path | None) -> Path | None:
        return check_password_file(value)

    @field_validator("listen")
    @classmethod
    def _listen_is_host_port(cls, value: str) -> str:
        split_listen(value)
        return value

    @field_validator("log_level")
    @classmethod
    def _known_level(cls, value: str) -> str:
        if value.lower() not in {"debug", "info", "warning", "error"}:
            raise ValueError("must be one of debug, info, warning, error")
        return value.lower()

    @model_validator(mode="after")
    def _shard_in_range(self) -> Settings:
        if self.shard_index >= self.shard_count:
            raise ValueError(
                f"shard_index {self.shard_index} must be below shard_count {self.shard_count}"
            )
        return self

    @field_validator("log_format")
    @classmethod
    def _known_format(cls, value: str) -> str:
        if value not in {"json", "console", "auto"}:
            raise ValueError("must be one of json, console, auto")
        return value


# Far more than any password; a bigger file is the wrong file.
MAX_PASSWORD_BYTES = 64 * 1024


def read_password(path: Path) -> str:
    """The password in a file: its whole content, less the line end an editor or `echo`
    leaves at the end. Raises OSError, or ValueError (UnicodeDecodeError included) when the
    file holds no password."""
    # Non-blocking: a FIFO or a device named by mistake must not hang start-up.
    with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
        data = file.read(MAX_PASSWORD_BYTES + 1)
    if len(data) > MAX_PASSWORD_BYTES:
        raise ValueError(f"larger than {MAX_PASSWORD_BYTES} bytes: not a password file")
    password = data.decode("utf-8").rstrip("\r\n")
    if not password:
        raise ValueError("the file is empty")
    return password


def check_password_file(path: Path | None) -> Path | None:
    """The file must be readable now; its content is never part of a message."""
    if path is not None:
        try:
            read_password(path)
        except OSError as exc:
            raise ValueError(f"{path}: cannot read it ({exc.strerror or exc})") from None
        except (ValueError, UnicodeDecodeError) as exc:
            problem = "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else str(exc)
            raise ValueError(f"{path}: {problem}") from None
    return path


def split_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"{value!r} is not HOST:PORT")
    return host.strip("[]") or "0.0.0.0", int(port)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"config file {path}: cannot read it ({exc.strerror or exc})") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"config file {path}: not UTF-8 text (byte {exc.start + 1} cannot be decoded)"
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = ""
        mark = getattr(exc, "problem_mark", None)
        if mark is not None:
            where = f" at line {mark.line + 1}, column {mark.column + 1}"
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"config file {path}: not valid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path}: the top level must be a mapping of settings")
    for key in data:
        if not isinstance(key, str):
            raise ConfigError(f"config file {path}: {key!r}: setting names are text")
    return data


def _check_environment() -> None:
    """Reject PGMON_* variables that name no setting: a typo must not be silently ignored."""
    known = {ENV_PREFIX + name.upper() for name in Settings.model_fields} | {ENV_PREFIX + "CONFIG"}
    for variable in os.environ:
        if not variable.upper().startswith(ENV_PREFIX):
            continue
        head = variable.upper().split("__", 1)[0]
        if head not in known:
            raise ConfigError(f"environment variable {variable}: no such setting")


def _describe(error: dict[str, Any]) -> str:
    location = ".".join(str(part) for part in error["loc"]) or "(top level)"
    message = str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "extra_forbidden":
        message = "unknown setting"
    return f"{location}: {message}"


def _describe_environment_error(exc: SettingsError) -> str:
    field = re.search(r'field "([^"]+)"', str(exc))
    if field is None:
        return f"environment: {exc}"
    return f"environment variable {ENV_PREFIX}{field.group(1).upper()}: not valid JSON"


def load_settings(config: str | os.PathLike[str] | None = None, **overrides: Any) -> Settings:
    """Build Settings from the file, the environment and explicit overrides (highest first)."""
    from pydantic import ValidationError

    _check_environment()
    path = config or os.environ.get(ENV_PREFIX + "CONFIG")
    file_data = _read_yaml(Path(path)) if path else {}
    source_name = f"config file {path}" if path else "configuration"

    class _Bound(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            return (init_settings, env_settings, InitSettingsSource(settings_cls, file_data))

    try:
        bound = _Bound(**{k: v for k, v in overrides.items() if v not in (None, [], ())})
    except ValidationError as exc:
        problems = "; ".join(_describe(dict(e)) for e in exc.errors())
        raise ConfigError(f"{source_name}: {problems}") from None
    except SettingsError as exc:
        # pydantic-settings could not decode a PGMON_* variable (JSON of a list or mapping).
        raise ConfigError(_describe_environment_error(exc)) from None
    return Settings.model_construct(**dict(bound))
