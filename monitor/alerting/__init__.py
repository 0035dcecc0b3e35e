"""Prometheus alerting and recording rules for pgmon's metrics, and their runbooks."""

from monitor.alerting import activity, availability, maintenance, replication
from monitor.alerting.model import Group

GROUPS: tuple[Group, ...] = (
    availability.GROUP,
    activity.GROUP,
    replication.GROUP,
    maintenance.GROUP,
)
