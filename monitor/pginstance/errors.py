"""What can go wrong with a throwaway server, as exception types callers can tell apart."""

from __future__ import annotations


class PgServerError(RuntimeError):
    """A server tool failed or a server did not reach the expected state."""


class InstallationNotFound(PgServerError, LookupError):
    """No installation of the requested PostgreSQL major version is available."""


class ServerStartError(PgServerError):
    """The server did not start; the message includes the tail of its log."""


class WaitTimeout(PgServerError, TimeoutError):
    """A server did not reach the state we were waiting for in time."""
