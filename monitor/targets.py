"""From settings to targets: names, effective per-collector settings, connections."""

from __future__ import annotations

import contextlib
import fnmatch
import threading
from dataclasses import dataclass, field
from pathlib import Path

from monitor import fleet
from monitor.collectors import ALL, BY_NAME
from monitor.collectors.base import CollectorSpec
from monitor.db import ConnectionBudget, Endpoint, SessionLimits
from monitor.dsn import dbname_of, display_name, secrets_of, with_database
from monitor.settings import (
    CollectorSettings,
    ConfigError,
    DatabaseFilter,
    IgnoreRuleSettings,
    Settings,
    TargetSettings,
    read_password,
)


@dataclass(frozen=True)
class Plan:
    """How one collector runs on one target."""

    spec: CollectorSpec
    interval: float
    timeout: float
    top_n: int | None
    query_text: bool = True


@dataclass
class Target:
    name: str
    dsn: str = field(repr=False)
    dbname: str
    plans: tuple[Plan, ...]
    databases: DatabaseFilter
    limits: SessionLimits
    ignore: tuple[IgnoreRuleSettings, ...] = ()
    password_file: Path | None = None
    budget: ConnectionBudget = field(default_factory=ConnectionBudget, repr=False, compare=False)
    main: Endpoint = field(init=False)
    _others: dict[str, Endpoint] = field(default_factory=dict, init=False, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def __post_init__(self) -> None:
        self.main = Endpoint(self.dsn, self.limits, self.budget, self.password_file)

    @property
    def signature(self) -> tuple[object, ...]:
        """Everything a reload compares: equal signatures mean the target runs on untouched."""
        ignore = tuple(rule.model_dump_json() for rule in self.ignore)
        return (
            self.dsn,
            self.password_file,
            self.plans,
            self.databases.model_dump_json(),
            self.limits,
            ignore,
        )

    def wants(self, datname: str) -> bool:
        include = self.databases.include
        if include and not any(fnmatch.fnmatchcase(datname, p) for p in include):
            return False
        return not any(fnmatch.fnmatchcase(datname, p) for p in self.databases.exclude)

    def endpoint(self, datname: str) -> Endpoint:
        """The one connection to `datname`, made on first use and kept for later runs."""
        if datname == self.dbname:
            return self.main
        with self._lock:
            found = self._others.get(datname)
            if found is None:
                found = self._others[datname] = Endpoint(
                    with_database(self.dsn, datname),
                    self.limits,
                    self.budget,
                    self.password_file,
                )
            return found

    def forget_databases(self, keep: set[str]) -> None:
        """Close connections to databases that are gone or no longer wanted."""
        with self._lock:
            gone = [name for name in self._others if name not in keep]
            endpoints = [self._others.pop(name) for name in gone]
        for endpoint in endpoints:
            endpoint.close()

    def close(self) -> None:
        with self._lock:
            endpoints = [self.main, *self._others.values()]
            self._others.clear()
        for endpoint in endpoints:
            endpoint.close()


def _merge(*layers: CollectorSettings | None) -> CollectorSettings:
    merged: dict[str, object] = {}
    for layer in layers:
        if layer is not None:
            merged.update(layer.model_dump(exclude_none=True))
    return CollectorSettings(**merged)


def _check_collector_names(where: str, overrides: dict[str, CollectorSettings]) -> None:
    for name in overrides:
        if name not in BY_NAME:
            known = ", ".join(sorted(BY_NAME))
            raise ConfigError(f"{where}.{name}: unknown collector (known: {known})")


def _plans(settings: Settings, target: TargetSettings, where: str) -> tuple[Plan, ...]:
    plans = []
    for spec in ALL:
        chosen = _merge(settings.collectors.get(spec.name), target.collectors.get(spec.name))
        if chosen.enabled is False:
            continue
        interval = chosen.interval or spec.interval
        timeout = chosen.timeout or min(spec.timeout, interval)
        if timeout > interval:
            raise ConfigError(
                f"{where}.{spec.name}.timeout: {timeout:g}s is longer than "
                f"the interval {interval:g}s"
            )
        if chosen.query_text is not None and spec.name != "statements":
            raise ConfigError(
                f"{where}.{spec.name}.query_text: only the statements collector reads query text"
            )
        query_text = chosen.query_text is not False
        plans.append(Plan(spec, interval, timeout, chosen.top_n or spec.top_n, query_text))
    return tuple(plans)


def build_targets(settings: Settings, budget: ConnectionBudget | None = None) -> list[Target]:
    """Every configured target; with none configured, one from libpq's PG* environment."""
    _check_collector_names("collectors", settings.collectors)
    configured = list(settings.targets) + [TargetSettings(dsn=dsn) for dsn in settings.dsn]
    if not configured:
        configured = [TargetSettings(dsn="")]
    limits = SessionLimits(
        statement_timeout=settings.statement_timeout,
        lock_timeout=settings.lock_timeout,
        connect_timeout=settings.connect_timeout,
        backoff_max=settings.reconnect_backoff_max,
    )
    targets: list[Target] = []
    seen: set[str] = set()
    for index, target in enumerate(configured):
        where = f"targets.{index}"
        _check_collector_names(f"{where}.collectors", target.collectors)
        name = target.name or display_name(target.dsn)
        if name in seen:
            raise ConfigError(f"{where}.name: target name {name!r} is used twice")
        seen.add(name)
        targets.append(
            Target(
                name=name,
                dsn=target.dsn,
                dbname=dbname_of(target.dsn),
                plans=_plans(settings, target, f"{where}.collectors"),
                databases=target.databases,
                limits=limits,
                ignore=tuple(target.ignore),
                password_file=target.password_file or settings.password_file,
                budget=budget or ConnectionBudget(),
            )
        )
    return targets


def shard(settings: Settings, targets: list[Target]) -> list[Target]:
    """The targets this daemon keeps when `shard_count` daemons share the list."""
    count, index = settings.shard_count, settings.shard_index
    return [t for t in targets if fleet.in_shard(t.name, count, index)]


def all_secrets(settings: Settings) -> list[str]:
    """Every password the settings hold or point to, for the log scrubber."""
    dsns = list(settings.dsn) + [t.dsn for t in settings.targets]
    found = [secret for dsn in dsns for secret in secrets_of(dsn)]
    files = [settings.password_file, *(t.password_file for t in settings.targets)]
    for path in files:
        if path is not None:
            with contextlib.suppress(OSError, ValueError):
                found.append(read_password(path))
    return found
