"""Grafana dashboards for pgmon, generated from Python so that five dashboards share one set
of panel definitions. `python3 -m monitor.grafana` writes dashboards/*.json; `--check`
fails when a committed file differs from what the code produces.
"""
