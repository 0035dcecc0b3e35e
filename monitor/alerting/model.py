"""Alerting and recording rules as data: thresholds named once, rules that refer to them."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from monitor.durations import format_seconds

_PLACEHOLDER = re.compile(r"\[\[([a-z0-9_]+)\]\]")
_GIB, _MIB = 1024**3, 1024**2


@dataclass(frozen=True)
class Threshold:
    """A number a team tunes; `unit` says how descriptions print it (the rule gets the raw
    number): seconds, bytes, ratio, count, or text for label regexes."""

    name: str
    default: float | str
    unit: str
    description: str

    def pretty(self, value: float | str) -> str:
        if isinstance(value, str):
            return value
        if self.unit == "seconds":
            return format_seconds(value)
        if self.unit == "bytes":
            for size, suffix in ((_GIB, "GiB"), (_MIB, "MiB")):
                if value >= size:
                    return f"{value / size:g} {suffix}"
            return f"{value:g} bytes"
        if self.unit == "ratio":
            return f"{value:.0%}"
        return f"{value:g}"


@dataclass(frozen=True)
class Level:
    """One severity of an alert: the label value and the threshold that triggers it."""

    severity: str
    threshold: str = ""


@dataclass(frozen=True)
class Runbook:
    meaning: str
    confirm: str
    act: str


@dataclass(frozen=True)
class Alert:
    """One alert name; one rule per level. In `expr`, `summary` and `description`,
    `[[name]]` stands for a threshold and `[[level]]` for the level's threshold."""

    name: str
    expr: str
    levels: tuple[Level, ...]
    for_: str
    summary: str
    description: str
    runbook: Runbook
    covers: tuple[str, ...] = ()  # finding check ids this alert already pages for


@dataclass(frozen=True)
class Recording:
    record: str
    expr: str


@dataclass(frozen=True)
class Group:
    name: str
    recordings: tuple[Recording, ...] = ()
    alerts: tuple[Alert, ...] = ()


def substitute(
    text: str,
    values: Mapping[str, float | str],
    thresholds: Mapping[str, Threshold],
    pretty: bool,
) -> str:
    def one(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"unknown threshold [[{name}]] in {text!r}")
        value = values[name]
        if pretty:
            return thresholds[name].pretty(value)
        return value if isinstance(value, str) else exact(value)

    return _PLACEHOLDER.sub(one, text)


def exact(value: float) -> str:
    """A number as PromQL reads it back unchanged (`:g` would round 1 GiB to 1.07374e+09)."""
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def placeholders(text: str) -> list[str]:
    """The names of the `[[name]]` placeholders in `text`, in order."""
    return _PLACEHOLDER.findall(text)


def anchor(alert_name: str) -> str:
    """The Markdown heading anchor of an alert's runbook (headings are the bare name)."""
    return alert_name.lower()
