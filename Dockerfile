# pgmon as a container: a sidecar next to PostgreSQL, or one process watching several.
#
# Configured only through the environment (PG* libpq variables, PGMON_*) or a mounted
# YAML file (PGMON_CONFIG); writes nothing but to /tmp, so a read-only root file system
# works. BASE_IMAGE is any Debian-like image with python3 and its venv module, e.g. one
# made locally with debootstrap (see README, "Container image").

ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY monitor ./monitor
COPY queries ./queries
# The venv is the unit copied to the final stage: pgmon, its dependencies and their
# byte code, nothing else. No compiler is needed: psycopg comes as a binary wheel.
RUN python3 -m venv /opt/pgmon \
    && /opt/pgmon/bin/pip install --no-cache-dir --disable-pip-version-check /src \
    && /opt/pgmon/bin/pip uninstall --yes pip \
    && /opt/pgmon/bin/pgmon --version

FROM ${BASE_IMAGE}
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="pgmon" \
      org.opencontainers.image.description="PostgreSQL health monitoring with a Prometheus endpoint" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.licenses="Apache-2.0"
# A named account for the fixed UID, so that libpq's default user name is `pgmon`
# (pgmon itself also copes with a UID that has no account, as OpenShift assigns).
RUN useradd --system --uid 10001 --user-group --no-create-home \
        --home-dir /nonexistent --shell /usr/sbin/nologin pgmon
COPY --from=build /opt/pgmon /opt/pgmon
ENV PATH=/opt/pgmon/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    TMPDIR=/tmp
# A fixed, unprivileged UID/GID that owns nothing in the image: runAsUser in Kubernetes
# and file permissions on mounted secrets can name it by number.
USER 10001:10001
EXPOSE 9189
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s --retries=3 \
    CMD ["pgmon", "healthcheck"]
ENTRYPOINT ["pgmon", "run"]
