"""Which cameras this computer has, with their names, matched to OpenCV's index and backend.

- Linux: the /dev/video* nodes, named from sysfs, each probed with V4L2 (one physical camera
  often has a second metadata node, which does not open for capture and is left out).
- Windows: DirectShow's device list (`cv2-enumerate-cameras`), in the order OpenCV's DSHOW
  backend indexes them: the backend `CameraSource` opens with there.
- macOS: AVFoundation's device list, in OpenCV's AVFOUNDATION order, after asking whether
  this app may use the camera at all: a denied permission raises `CameraPermissionDenied`
  with where to allow it, instead of an empty list.

Why `cv2-enumerate-cameras` and not Qt Multimedia's `QMediaDevices.videoInputs()`: Qt's list
comes from PySide6-Addons (wheels of 168 MB on Windows, 333 MB on macOS, beside the
PySide6-Essentials the core uses) and gives no OpenCV index, so it would still have to be
matched to OpenCV's order by name; the small library (0.2 MB of wheels on Windows, 6.4 MB with
pyobjc's AVFoundation on macOS) returns exactly OpenCV's (index, backend) with each name.
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from cer_desktop.capture.base import SourceError
from cer_desktop.capture.camera import CameraInfo, backend_for, quiet_opencv
from cer_desktop.portable.system import OsName, current_os

__all__ = ["CameraPermissionDenied", "list_cameras"]

log = logging.getLogger(__name__)

#: AVAuthorizationStatus values (AVFoundation): notDetermined 0, restricted 1, denied 2, authorized 3
MAC_RESTRICTED, MAC_DENIED = 1, 2

MAC_PERMISSION_HINT = (
    "macOS does not let this app use the camera. Allow it in System Settings > Privacy & "
    "Security > Camera (for cer-desktop, or for the terminal that starts it), then start the "
    "app again."
)


class CameraPermissionDenied(SourceError):
    """The OS refuses this app the camera (macOS privacy settings); says where to allow it."""


Enumerate = Callable[[int], Iterable[Any]]
"""cv2_enumerate_cameras.enumerate_cameras: (OpenCV backend) -> objects with index, name, path."""


def list_cameras(
    max_index: int = 8,
    *,
    os_name: OsName | None = None,
    enumerate_fn: Enumerate | None = None,
    authorization: Callable[[], int] | None = None,
    probe: Callable[[int, int], bool] | None = None,
) -> list[CameraInfo]:
    """The cameras here, with names, each openable as `CameraInfo.spec`. [] when there is none.

    `os_name`, `enumerate_fn` (the device list), `authorization` (macOS' permission status) and
    `probe` (whether OpenCV opens an index with a backend) are injectable for tests.
    """
    os_name = os_name or current_os()
    backend_id, backend_name = backend_for(os_name)
    probe = probe or _opens
    if os_name == "macos":
        status = (authorization or _mac_authorization)()
        if status in (MAC_RESTRICTED, MAC_DENIED):
            raise CameraPermissionDenied(MAC_PERMISSION_HINT)
    if os_name in ("windows", "macos"):
        listed = _enumerated(backend_id, enumerate_fn)
        if listed is not None:
            return [
                CameraInfo(
                    index=int(d.index),
                    path=getattr(d, "path", None) or None,
                    name=str(getattr(d, "name", "") or ""),
                    backend=backend_name,
                )
                for d in listed
                if int(d.index) < max(max_index, 64)
            ]
        candidates: list[tuple[int, str | None, str]] = [(i, None, "") for i in range(max_index)]
    else:
        candidates = [(n, p, name) for n, p, name in _linux_devices() if n < max(max_index, 64)]
    return [
        CameraInfo(index=index, path=path, name=name, backend=backend_name)
        for index, path, name in candidates
        if probe(index, backend_id)
    ]


def _enumerated(backend: int, enumerate_fn: Enumerate | None) -> list[Any] | None:
    """The OS's device list for `backend`, or None when it cannot be had (then indexes are
    probed without names)."""
    if enumerate_fn is None:
        try:
            from cv2_enumerate_cameras import enumerate_cameras
        except Exception as exc:  # not installed (a pip install without it), pyobjc missing
            log.warning("camera names unavailable (%s); probing indexes", exc)
            return None
        enumerate_fn = enumerate_cameras
    try:
        devices = list(enumerate_fn(backend))
    except Exception as exc:
        log.warning("listing cameras by name failed (%s); probing indexes", exc)
        return None
    return sorted(devices, key=lambda d: int(d.index))


def _mac_authorization() -> int:
    """AVFoundation's camera permission for this app (3 authorized; 0 not asked yet, then
    opening the camera asks, through the bundle's NSCameraUsageDescription)."""
    try:
        import AVFoundation  # pyobjc-framework-AVFoundation, a dependency on macOS

        return int(
            AVFoundation.AVCaptureDevice.authorizationStatusForMediaType_(
                AVFoundation.AVMediaTypeVideo
            )
        )
    except Exception as exc:
        log.warning("cannot read the camera permission (%s)", exc)
        return 0


def _linux_devices() -> list[tuple[int, str, str]]:
    """(index, /dev/videoN, name) for every video node, in index order."""
    out = []
    for path in glob.glob("/dev/video*"):
        m = re.fullmatch(r"/dev/video(\d+)", path)
        if not m:
            continue
        n = int(m.group(1))
        name_file = Path(f"/sys/class/video4linux/video{n}/name")
        try:
            name = name_file.read_text(encoding="utf-8", errors="replace").strip()
        except OSError:
            name = ""
        out.append((n, path, name))
    return sorted(out)


def _opens(index: int, backend: int) -> bool:
    """Whether OpenCV opens camera `index` with `backend` (no frame is read)."""
    import cv2

    with quiet_opencv():
        try:
            cap = cv2.VideoCapture(index, backend)
        except cv2.error:
            return False
        try:
            return bool(cap.isOpened())
        finally:
            cap.release()
