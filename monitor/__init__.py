"""pgmon: a PostgreSQL health-monitoring daemon with a Prometheus endpoint."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("pgmon")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"
