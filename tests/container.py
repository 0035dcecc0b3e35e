"""The Dockerfile built and run for real, without a Docker engine: buildah (vfs storage,
chroot isolation) over a base image made here with debootstrap (minbase + python3).

The base image is kept in buildah's storage between runs (it only depends on the Debian
release), so only the first run on a machine pays for debootstrap.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BASE_IMAGE = "localhost/pgmon-base:{codename}"
BASE_PACKAGES = "python3,python3-venv,ca-certificates"
BUILDAH = ["buildah", "--storage-driver", "vfs"]
# pip inside the build reaches the package index through the host's network and
# resolver, and checks certificates against the host's store.
BUILD_MOUNTS = [
    "-v",
    "/etc/ssl/certs:/etc/ssl/certs:ro",
    "-v",
    "/etc/resolv.conf:/etc/resolv.conf:ro",
]


def buildah(*args: str, timeout: float = 600) -> str:
    if shutil.which("buildah") is None:
        raise AssertionError("buildah is not installed; `make deps` installs it")
    done = subprocess.run(
        [*BUILDAH, *args], capture_output=True, text=True, check=False, timeout=timeout
    )
    if done.returncode != 0:
        raise AssertionError(f"buildah {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def _codename() -> str:
    for line in Path("/etc/os-release").read_text().splitlines():
        if line.startswith("VERSION_CODENAME="):
            return line.split("=", 1)[1].strip('"')
    raise AssertionError("no VERSION_CODENAME in /etc/os-release")


def _mirror() -> str:
    """The Debian mirror this machine's apt uses, so the base comes from the same place."""
    sources = sorted(Path("/etc/apt/sources.list.d").glob("*.sources"))
    for path in sources:
        for line in path.read_text().splitlines():
            if line.startswith("URIs:") and "security" not in line:
                return line.split()[1]
    listing = Path("/etc/apt/sources.list")
    if listing.exists():
        for line in listing.read_text().splitlines():
            parts = line.split()
            if parts[:1] == ["deb"] and "security" not in line:
                return next(p for p in parts[1:] if "://" in p)
    raise AssertionError("found no Debian mirror in the apt sources")


def _exists(image: str) -> bool:
    done = subprocess.run(
        [*BUILDAH, "images", "--quiet", image], capture_output=True, text=True, check=False
    )
    return done.returncode == 0 and bool(done.stdout.strip())


def base_image() -> str:
    codename = _codename()
    image = BASE_IMAGE.format(codename=codename)
    if _exists(image):
        return image
    if shutil.which("debootstrap") is None:
        raise AssertionError("debootstrap is not installed; `make deps` installs it")
    with tempfile.TemporaryDirectory(prefix="pgmon-rootfs-") as workdir:
        rootfs = Path(workdir) / "rootfs"
        done = subprocess.run(
            ["debootstrap", "--variant=minbase", f"--include={BASE_PACKAGES}", codename,
             str(rootfs), _mirror()],
            capture_output=True, text=True, check=False, timeout=900,
        )  # fmt: skip
        if done.returncode != 0:
            raise AssertionError(f"debootstrap failed:\n{done.stdout[-3000:]}\n{done.stderr}")
        for leftover in ("var/cache/apt/archives", "var/lib/apt/lists"):
            for path in (rootfs / leftover).glob("*"):
                if path.is_file():
                    path.unlink()
        container = buildah("from", "scratch").strip()
        try:
            mountpoint = buildah("mount", container).strip()
            subprocess.run(["cp", "-a", f"{rootfs}/.", mountpoint], check=True)
            buildah("umount", container)
            buildah("commit", "--quiet", container, image)
        finally:
            buildah("rm", container)
    return image


def build_image(tag: str, base: str) -> str:
    """Build the Dockerfile; the image's ID (a tag alone can leave the image behind)."""
    with tempfile.TemporaryDirectory(prefix="pgmon-build-") as workdir:
        iidfile = Path(workdir) / "iid"
        buildah(
            "build", "--isolation", "chroot", "--network", "host", "--format", "docker",
            *BUILD_MOUNTS, "--build-arg", f"BASE_IMAGE={base}", "--tag", tag,
            "--iidfile", str(iidfile), str(ROOT),
        )  # fmt: skip
        return iidfile.read_text().strip().removeprefix("sha256:")


def remove_image(image: str) -> None:
    if _exists(image):
        buildah("rmi", "--force", image)


def inspect(image: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(buildah("inspect", "--type", "image", image))
    return data


# Files buildah binds over the container's own at every run, creating them when missing:
# on a read-only root they must exist beforehand.
RUN_MOUNT_POINTS = ("etc/hosts", "etc/hostname", "etc/resolv.conf")


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"mount {' '.join(args)} failed: {done.stderr}")


class Container:
    """A working container of an image; commands run in it as the image's user."""

    def __init__(self, image: str) -> None:
        self.name = buildah("from", "--quiet", image).strip()
        self._logs: dict[int, Path] = {}
        self._volumes: list[str] = []

    def share(self, directory: Path, inside: str) -> None:
        """Commands from now on see `directory` read-only at `inside`, as a mounted secret;
        the mount point is made first, as a container runtime makes it."""
        root = Path(buildah("mount", self.name).strip())
        try:
            (root / inside.lstrip("/")).mkdir(parents=True, exist_ok=True)
        finally:
            buildah("umount", self.name)
        self._volumes += ["-v", f"{directory}:{inside}:ro"]

    @contextmanager
    def read_only_root(self) -> Iterator[None]:
        """Commands started in the block see the root file system read-only, with fresh
        tmpfs on /tmp (the one writable place) and /run (root's), as `podman run --read-only`
        or Kubernetes' readOnlyRootFilesystem with emptyDirs show it.

        buildah run has no --read-only: the container's root is bound read-only onto itself
        here, with the two tmpfs mounted on top, and the recursive bind buildah makes of it
        for each run inherits all that. buildah itself writes its .containerenv marker into
        /run at each run and removes it afterwards, hence the tmpfs there."""
        root = Path(buildah("mount", self.name).strip())
        mounted: list[Path] = []
        try:
            for name in RUN_MOUNT_POINTS:
                if not (root / name).exists():
                    (root / name).touch()
            _mount("--bind", str(root), str(root))
            mounted.append(root)
            _mount("-o", "remount,bind,ro", str(root))
            for path, mode in ((root / "run", "0755"), (root / "tmp", "1777")):
                _mount("-t", "tmpfs", "-o", f"mode={mode},size=64m", "tmpfs", str(path))
                mounted.append(path)
            yield
        finally:
            for path in reversed(mounted):
                subprocess.run(["umount", str(path)], check=True)
            buildah("umount", self.name)

    def output(self, proc: subprocess.Popen[bytes]) -> str:
        """What a `background` command printed so far."""
        return self._logs[proc.pid].read_text(errors="replace")

    def command(self, *argv: str, env: dict[str, str] | None = None) -> list[str]:
        settings = [f"--env={key}={value}" for key, value in (env or {}).items()]
        return [
            *BUILDAH, "run", "--isolation", "chroot", "--network", "host", *settings,
            *self._volumes, self.name, "--", *argv,
        ]  # fmt: skip

    def run(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            self.command(*argv, env=env), capture_output=True, text=True, check=False, timeout=120
        )

    @contextmanager
    def background(
        self, *argv: str, env: dict[str, str] | None = None
    ) -> Iterator[subprocess.Popen[bytes]]:
        """`argv` running in the container until the block ends; then stopped by its PID."""
        log_path = Path(tempfile.mkdtemp(prefix="pgmon-container-")) / "output.log"
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                self.command(*argv, env=env), stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
        self._logs[proc.pid] = log_path
        try:
            yield proc
        finally:
            _stop(proc)

    def remove(self) -> None:
        buildah("rm", self.name)


def processes(proc: subprocess.Popen[bytes]) -> list[int]:
    """The PIDs of what a `background` command runs in the container (buildah's own left out)."""
    return [pid for pid in _descendants(proc.pid) if not _is_buildah(pid)]


def uids(pid: int) -> list[int]:
    """Real, effective, saved and file-system UID of a process, as the host sees them."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return [int(field) for field in line.split()[1:]]
    raise AssertionError(f"no Uid line in /proc/{pid}/status")


def _descendants(pid: int) -> list[int]:
    children: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
    return children + [d for child in children for d in _descendants(child)]


def _is_buildah(pid: int) -> bool:
    try:
        return (
            Path(f"/proc/{pid}/cmdline")
            .read_bytes()
            .split(b"\0")[0]
            .rsplit(b"/", 1)[-1]
            .startswith(b"buildah")
        )
    except OSError:
        return True


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the command inside the container, as a container runtime's stop would
    send it (buildah, signalled itself, kills its child at once); then to buildah."""
    if proc.poll() is None:
        for pid in processes(proc) or [proc.pid]:
            os.kill(pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)
