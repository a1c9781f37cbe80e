#!/usr/bin/env python3
"""Check that every pin of every lock has a wheel for that lock's platform and Python.

Reads `locks/py<XY>-<os>-<arch>-<kind>.txt` (the scheme of scripts/update-lock.sh), asks the
package index for each pinned version's files (PyPI's JSON "simple" API, PEP 691: one request
per package, no installs) and accepts a pin when one of its wheels fits the lock's Python and
platform and carries a hash the lock lists (pip --require-hashes would refuse any other file).
A pin with no fitting wheel names the sdist pip would have to build: that fails the check for
a core lock, and for any package of the core; in an `all` lock it is a warning (an extra's
package building from source is slow, not broken). A pin with neither fails everywhere.

    python3 scripts/check-platform-wheels.py [LOCK ...]       (default: every lock in locks/)
    --index-answers FILE    read the index's answers from FILE instead of the network
    --record FILE           write the answers used to FILE (to make such a fixture)

Standard library only, so it runs before any venv exists. Exit 0 when every lock passes, 1
when one fails, 2 on a usage or network error.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

INDEX = "https://pypi.org/simple"
LOCK_NAME = re.compile(r"py3(\d+)-([a-z]+)-([a-z0-9_]+)-([a-z0-9]+)\.txt")
# the oldest OS release each platform's locks serve: kept in step with update-lock.sh
PLATFORMS: dict[str, tuple[str, tuple[int, int] | None]] = {
    "linux-x86_64": ("manylinux", (2, 35)),  # glibc
    "windows-x86_64": ("win_amd64", None),
    "macos-arm64": ("macosx-arm64", (14, 0)),
    "macos-x86_64": ("macosx-x86_64", (13, 0)),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")
# old manylinux names and the glibc they stand for
LEGACY_MANYLINUX = {"manylinux1": (2, 5), "manylinux2010": (2, 12), "manylinux2014": (2, 17)}
MAC_ARCHES = {
    "arm64": {"arm64", "universal2"},
    "x86_64": {"x86_64", "intel", "universal2", "universal"},
}


def normalize(name: str) -> str:
    """PEP 503's normalised project name."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Target:
    """What a lock installs onto: CPython 3.<minor> on one OS and architecture."""

    minor: int
    os_arch: str
    kind: str

    @classmethod
    def of(cls, lock: Path) -> Target:
        m = LOCK_NAME.fullmatch(lock.name)
        if not m or f"{m[2]}-{m[3]}" not in PLATFORMS:
            raise ValueError(
                f"{lock.name}: not a py3<minor>-<os>-<arch>-<kind>.txt lock of a known platform "
                f"({', '.join(PLATFORMS)})"
            )
        return cls(int(m[1]), f"{m[2]}-{m[3]}", m[4])

    def python_fits(self, py_tag: str, abi_tag: str) -> bool:
        """Whether a wheel's python and ABI tags install on this CPython (as pip's tag list)."""
        for py in py_tag.split("."):
            m = re.fullmatch(r"(cp|py)3(\d*)", py)
            if not m:
                continue
            minor = int(m[2]) if m[2] else None
            for abi in abi_tag.split("."):
                if abi == "none" and m[1] == "py" and (minor is None or minor <= self.minor):
                    return True
                if abi == "none" and m[1] == "cp" and minor == self.minor:
                    return True
                if abi == "abi3" and m[1] == "cp" and minor is not None and minor <= self.minor:
                    return True
                if abi == f"cp3{self.minor}" and m[1] == "cp" and minor == self.minor:
                    return True
        return False

    def platform_fits(self, plat_tag: str) -> bool:
        """Whether a wheel's platform tag installs on this lock's oldest OS and architecture."""
        family, oldest = PLATFORMS[self.os_arch]
        for plat in plat_tag.split("."):
            if plat == "any":
                return True
            if family == "win_amd64" and plat == "win_amd64":
                return True
            if family == "manylinux" and oldest is not None:
                m = re.fullmatch(r"manylinux_(\d+)_(\d+)_x86_64", plat)
                legacy = re.fullmatch(r"(manylinux\d+)_x86_64", plat)
                glibc = (int(m[1]), int(m[2])) if m else None
                if legacy and legacy[1] in LEGACY_MANYLINUX:
                    glibc = LEGACY_MANYLINUX[legacy[1]]
                if glibc is not None and glibc <= oldest:
                    return True
            if family.startswith("macosx") and oldest is not None:
                m = re.fullmatch(r"macosx_(\d+)_(\d+)_(\w+)", plat)
                arch = family.split("-")[1]
                if m and m[3] in MAC_ARCHES[arch] and (int(m[1]), int(m[2])) <= oldest:
                    return True
        return False

    def wheel_fits(self, filename: str) -> bool:
        parts = filename[: -len(".whl")].split("-")
        if len(parts) not in (5, 6):
            return False
        py_tag, abi_tag, plat_tag = parts[-3:]
        return self.python_fits(py_tag, abi_tag) and self.platform_fits(plat_tag)


@dataclass
class Pin:
    name: str
    version: str
    hashes: set[str] = field(default_factory=set)


def read_lock(path: Path) -> list[Pin]:
    """The `name==version` pins of a lock with the sha256 hashes listed under each."""
    pins: list[Pin] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = PIN.match(stripped)
        if m:
            pins.append(Pin(normalize(m[1]), m[2]))
        elif pins:
            pins[-1].hashes.update(HASH.findall(stripped))
        elif not stripped.startswith("-"):
            raise ValueError(f"{path.name}: cannot read {stripped!r}")
    return pins


class Index:
    """The index's file lists per project: fetched once each, or read from a recorded file."""

    def __init__(self, answers: dict[str, list[dict]] | None = None) -> None:
        self.offline = answers is not None
        self.answers: dict[str, list[dict]] = dict(answers or {})

    def prefetch(self, names: set[str]) -> None:
        missing = sorted(n for n in names if n not in self.answers)
        if self.offline:
            for name in missing:
                self.answers[name] = []  # not in the recording: as if the index had nothing
            return
        with ThreadPoolExecutor(max_workers=8) as pool:
            for name, files in zip(missing, pool.map(self._fetch, missing), strict=True):
                self.answers[name] = files

    @staticmethod
    def _fetch(name: str) -> list[dict]:
        req = urllib.request.Request(
            f"{INDEX}/{name}/", headers={"Accept": "application/vnd.pypi.simple.v1+json"}
        )
        # A name lookup or connection may fail for a moment (seen once in CI: "Temporary
        # failure in name resolution"); a failure that persists over four tries is reported.
        for attempt in range(4):
            try:
                with urllib.request.urlopen(req, timeout=60) as answer:
                    data = json.load(answer)
                break
            except urllib.error.HTTPError as exc:
                if exc.code == 404:
                    return []
                if exc.code < 500 or attempt == 3:
                    raise
            except (urllib.error.URLError, TimeoutError, ConnectionError):
                if attempt == 3:
                    raise
            time.sleep(2**attempt)
        return [
            {"filename": f["filename"], "sha256": f.get("hashes", {}).get("sha256", "")}
            for f in data.get("files", [])
            if not f.get("yanked")
        ]

    def files(self, pin: Pin) -> list[dict]:
        """The index's files of exactly this version (wheels and sdists)."""
        out = []
        for f in self.answers.get(pin.name, []):
            fn = f["filename"]
            if fn.endswith(".whl"):
                version = fn.split("-")[1]
            elif fn.endswith((".tar.gz", ".zip")):
                stem = fn.removesuffix(".tar.gz").removesuffix(".zip")
                version = stem.rsplit("-", 1)[-1]
            else:
                continue
            if version == pin.version:
                out.append(f)
        return out

    def recording(self, pins: list[Pin]) -> dict[str, list[dict]]:
        """The answers, cut to the pinned versions (a small fixture)."""
        out: dict[str, list[dict]] = {}
        for pin in pins:
            out.setdefault(pin.name, []).extend(self.files(pin))
        return out


@dataclass
class Verdict:
    lock: str
    failures: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def check_lock(lock: Path, index: Index, core_names: set[str]) -> Verdict:
    """Check one lock; `core_names` are the packages of the same platform's core lock."""
    target = Target.of(lock)
    verdict = Verdict(lock.name)
    for pin in read_lock(lock):
        files = index.files(pin)
        wheels = [f for f in files if f["filename"].endswith(".whl")]
        fitting = [f for f in wheels if target.wheel_fits(f["filename"])]
        sdists = [f["filename"] for f in files if not f["filename"].endswith(".whl")]
        what = f"{pin.name}=={pin.version}"
        if fitting:
            if pin.hashes and not any(f["sha256"] in pin.hashes for f in fitting):
                verdict.failures.append(
                    f"{what}: its wheel for {target.os_arch} ({fitting[0]['filename']}) has a "
                    "hash the lock does not list"
                )
            continue
        if not files:
            verdict.failures.append(f"{what}: the index has no file of this version")
        elif sdists:
            message = f"{what}: no wheel for {target.os_arch}, py3{target.minor}; pip would build {sdists[0]}"
            if target.kind == "core" or pin.name in core_names:
                verdict.failures.append(message + " (a core package)")
            else:
                verdict.warnings.append(message)
        else:
            tags = ", ".join(sorted({f["filename"].split("-", 2)[2] for f in wheels})[:4])
            verdict.failures.append(
                f"{what}: no wheel for {target.os_arch}, py3{target.minor} (has {tags})"
            )
    return verdict


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("locks", nargs="*", type=Path)
    parser.add_argument("--index-answers", type=Path, help="recorded index answers (JSON)")
    parser.add_argument("--record", type=Path, help="write the index answers used (JSON)")
    args = parser.parse_args(argv)
    root = Path(__file__).resolve().parent.parent
    locks = args.locks or sorted(p for p in (root / "locks").glob("py3*.txt"))
    try:
        targets = {lock: Target.of(lock) for lock in locks}
        pins = {lock: read_lock(lock) for lock in locks}
    except (ValueError, OSError) as exc:
        print(f"check-platform-wheels: {exc}", file=sys.stderr)
        return 2
    answers = None
    if args.index_answers:
        answers = json.loads(args.index_answers.read_text(encoding="utf-8"))
    index = Index(answers)
    try:
        index.prefetch({p.name for ps in pins.values() for p in ps})
    except OSError as exc:
        print(f"check-platform-wheels: cannot reach the index ({exc})", file=sys.stderr)
        return 2
    core_names = {
        (t.minor, t.os_arch): {p.name for p in pins[lock]}
        for lock, t in targets.items()
        if t.kind == "core"
    }
    failed = 0
    for lock in locks:
        t = targets[lock]
        verdict = check_lock(lock, index, core_names.get((t.minor, t.os_arch), set()))
        status = "FAIL" if verdict.failures else "ok"
        print(f"{status:4} {lock.name}: {len(pins[lock])} pins", flush=True)
        for line in verdict.failures:
            print(f"     FAIL {line}")
        for line in verdict.warnings:
            print(f"     warn {line}")
        failed += bool(verdict.failures)
    if args.record:
        every = [p for ps in pins.values() for p in ps]
        args.record.write_text(
            json.dumps(index.recording(every), indent=1, sort_keys=True) + "\n", encoding="utf-8"
        )
    print(f"{len(locks) - failed} of {len(locks)} locks have a wheel for every pin")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
