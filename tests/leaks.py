"""The passwords the tests give pgmon, and a watch on everything pgmon says or serves.

Every password a test hands to pgmon is made with :func:`secret`. tests/daemon.py passes
whatever pgmon emits through :func:`watch`: the stdout and stderr of every CLI run, the
whole log of every daemon, every body read over HTTP (/metrics, /findings, ...). A password
found there is remembered with the place it was seen, and tests/conftest.py fails the test
session at its end naming each place. Found at once rather than at the end, so that no
output has to be kept; :func:`secret` is therefore called where a module is imported, or at
least before pgmon sees the password.

Test passwords are long and distinctive, and use only characters that look the same
percent-encoded in a URI, so that neither a chance match nor an encoded copy goes unseen.
Plain Python (no pytest imports): bench/ uses tests/daemon.py too.
"""

from __future__ import annotations

import os
import re

_SAFE = re.compile(r"^[A-Za-z0-9_.~-]{12,}$")

SECRETS: set[str] = set()
FOUND: list[str] = []


def secret(password: str) -> str:
    """Register a password the tests use; returns it, for `PASSWORD = secret("...")`."""
    if not _SAFE.match(password):
        raise ValueError(
            f"test password {password!r}: use at least 12 letters, digits or -._~ so that a "
            "copy cannot go unnoticed"
        )
    SECRETS.add(password)
    return password


def watch(place: str, output: str | bytes) -> None:
    """Note every registered password that `output` (something pgmon emitted) contains."""
    text = output.decode("utf-8", "replace") if isinstance(output, bytes) else output
    for password in SECRETS:
        if password in text:
            test = os.environ.get("PYTEST_CURRENT_TEST", "outside a test")
            FOUND.append(f"{test}: {place} contains the password {password!r}")
