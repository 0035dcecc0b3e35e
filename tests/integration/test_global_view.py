"""deploy/global-view/ for real: two pgmon sidecars (one on the primary, one on the
standby) brought into one central Prometheus, pushed by a Prometheus agent (agent.yml) and
pulled from a site's Prometheus by federation (federation.yml). The central and agent
configurations are the shipped files with only addresses and intervals changed, so a
broken example fails here."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import pytest
import yaml

from tests.daemon import Daemon, free_port, wait_for
from tests.observability import PrometheusServer
from tests.pgserver import MONITOR_ROLE, Cluster
from tests.promql import ROOT, RULES

GLOBAL_VIEW = ROOT / "deploy" / "global-view"
TARGETS = ("primary", "standby")
SITE = "site-under-test"  # the site Prometheus's cluster label in the federation case
LAST_SUCCESS = 'pgmon_collector_last_success_timestamp_seconds{collector="connections"}'
WAIT = 30  # seconds: a few scrapes, and the agent's remote-write batches (5 s deadline)

# Nothing here differs between majors: one is enough, and keeps the test short.
pytestmark = pytest.mark.pg(">=18")


def example(name: str) -> dict[str, Any]:
    config: dict[str, Any] = yaml.safe_load((GLOBAL_VIEW / name).read_text())
    return config


def only_job(config: dict[str, Any]) -> dict[str, Any]:
    [job] = config["scrape_configs"]
    assert isinstance(job, dict)
    return job


def at_1s(config: dict[str, Any], job: dict[str, Any], targets: list[str]) -> dict[str, Any]:
    """`config` scraping every second, its only job pointed at `targets`."""
    config["global"]["scrape_interval"] = "1s"
    job["static_configs"] = [{"targets": targets}]
    return config


@pytest.fixture(scope="module")
def sidecars(pg_cluster: Cluster) -> Iterator[list[str]]:
    """The addresses of two pgmons, each watching one server under its own target name."""
    servers = {"primary": pg_cluster.primary, "standby": pg_cluster.replica}
    with ExitStack() as stack:
        daemons = [
            stack.enter_context(
                Daemon({"targets": [{"name": name, "dsn": servers[name].dsn(user=MONITOR_ROLE)}]})
            )
            for name in TARGETS
        ]
        for daemon in daemons:
            daemon.wait_ready()
        yield [f"127.0.0.1:{daemon.port}" for daemon in daemons]


def start(stack: ExitStack, name: str, config: dict[str, Any], *args: str) -> PrometheusServer:
    server = PrometheusServer(config, args, name=name)
    stack.callback(server.stop)
    return server


def by_target(result: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Labels of each series of a query result, by their target label."""
    return {r["metric"].get("target", ""): r["metric"] for r in result}


def test_agent_pushes_both_sidecars_to_the_central_store(sidecars: list[str]) -> None:
    shipped = example("agent.yml")
    cluster = shipped["global"]["external_labels"]["cluster"]
    with ExitStack() as stack:
        central = start(stack, "central", {}, "--web.enable-remote-write-receiver")
        config = copy.deepcopy(shipped)
        at_1s(config, only_job(config), sidecars)
        [remote] = config["remote_write"]
        remote["url"] = f"{central.url}/api/v1/write"
        start(stack, "agent", config, "--enable-feature=agent")

        seen = wait_for(
            lambda: (s := by_target(central.query("pg_up == 1"))).keys() >= set(TARGETS) and s,
            WAIT,
            "pg_up of both sidecars in the central Prometheus",
        )
        for target in TARGETS:
            assert seen[target]["cluster"] == cluster, seen[target]
            assert seen[target]["job"] == only_job(shipped)["job_name"], seen[target]
        # A scrape's samples may arrive in more than one remote-write batch.
        success = wait_for(
            lambda: (
                (s := by_target(central.query(f"{LAST_SUCCESS} > 0"))).keys() >= set(TARGETS) and s
            ),
            WAIT,
            f"{LAST_SUCCESS} of both sidecars in the central Prometheus",
        )
        assert success.keys() == set(TARGETS), success
        assert {labels["cluster"] for labels in success.values()} == {cluster}


def site_config(sidecars: list[str], self_address: str) -> dict[str, Any]:
    """A site's Prometheus: the two sidecars, itself (what must not be federated), and the
    repository's rules (whose recorded series must be)."""
    return {
        "global": {
            "scrape_interval": "1s",
            "evaluation_interval": "1s",
            "external_labels": {"cluster": SITE},
        },
        "rule_files": ["rules.yml"],
        "scrape_configs": [
            {"job_name": "pgmon", "static_configs": [{"targets": sidecars}]},
            {"job_name": "prometheus", "static_configs": [{"targets": [self_address]}]},
        ],
    }


def test_central_federates_the_pgmon_series_of_a_site(sidecars: list[str]) -> None:
    with ExitStack() as stack:
        port = free_port()
        site = PrometheusServer(
            site_config(sidecars, f"127.0.0.1:{port}"),
            files={"rules.yml": RULES.read_text()},
            name="site",
            port=port,
        )
        stack.callback(site.stop)
        config = example("federation.yml")
        at_1s(config, only_job(config), [site.url.removeprefix("http://")])
        central = start(stack, "central", config)

        seen = wait_for(
            lambda: (s := by_target(central.query("pg_up == 1"))).keys() >= set(TARGETS) and s,
            WAIT,
            "pg_up of both sidecars in the central Prometheus",
        )
        for target in TARGETS:
            # honor_labels: the site's job and instance, not the federate job's.
            assert seen[target]["job"] == "pgmon", seen[target]
            assert seen[target]["instance"] in sidecars, seen[target]
            assert seen[target]["cluster"] == SITE, seen[target]
        assert by_target(central.query("pgmon_collector_up")).keys() == set(TARGETS)
        wait_for(
            lambda: central.query("target_datname:pg_xid_wraparound:ratio"),
            WAIT,
            "a recording rule's series in the central Prometheus",
        )
        # What the site has but match[] does not select stays at the site, also in a
        # federation scrape that started after the site had it.
        [own] = wait_for(
            lambda: site.query('timestamp(up{job="prometheus"})'), WAIT, "the site scraping itself"
        )
        assert site.query('{__name__=~"prometheus_.+"}')
        later = float(own["value"][1]) + 1
        wait_for(
            lambda: central.query(f'timestamp(up{{job="federate"}}) > {later}'),
            WAIT,
            "a federation scrape after the site scraped itself",
        )
        assert not central.query('up{job="prometheus"}')
        assert not central.query('{__name__=~"prometheus_.+"}')
