"""Cameras listed with names per OS, matched to OpenCV's index and backend (`capture/camera_list.py`).

Each OS's branch runs here with the OS injected and the OS's device list replaced by what
`cv2_enumerate_cameras.enumerate_cameras(backend)` returns there (objects with index, name,
path); the real lists come from DirectShow and AVFoundation only on those systems.
"""

from __future__ import annotations

from types import SimpleNamespace

import cv2
import pytest

from cer_desktop.capture import camera_list
from cer_desktop.capture.camera import backend_for
from cer_desktop.capture.camera_list import CameraPermissionDenied, list_cameras


def _device(index: int, name: str, path: str = "") -> SimpleNamespace:
    return SimpleNamespace(index=index, name=name, path=path, vid=None, pid=None)


class Enumerator:
    def __init__(self, devices: list[SimpleNamespace]) -> None:
        self.devices = devices
        self.asked: list[int] = []

    def __call__(self, backend: int) -> list[SimpleNamespace]:
        self.asked.append(backend)
        return self.devices


def _no_probe(index: int, backend: int) -> bool:
    raise AssertionError("an OS device list needs no probing")


def test_windows_lists_directshow_devices_with_names_in_opencv_order() -> None:
    devices = Enumerator(
        [_device(1, "OBS Virtual Camera", "obs"), _device(0, "Integrated Webcam", r"\\?\usb#vid")]
    )
    cams = list_cameras(os_name="windows", enumerate_fn=devices, probe=_no_probe)
    assert devices.asked == [int(cv2.CAP_DSHOW)]  # the backend CameraSource opens with there
    assert [(c.index, c.name, c.backend) for c in cams] == [
        (0, "Integrated Webcam", "DSHOW"),
        (1, "OBS Virtual Camera", "DSHOW"),
    ]
    assert cams[0].spec == "camera:0"
    assert str(cams[0]) == "camera 0: Integrated Webcam [DSHOW]"
    assert backend_for("windows") == (int(cv2.CAP_DSHOW), "DSHOW")


def test_macos_lists_avfoundation_devices_when_the_camera_is_allowed() -> None:
    devices = Enumerator([_device(0, "FaceTime HD Camera", "0x1420000005ac8600")])
    for status in (0, 3):  # not asked yet (opening asks), authorized
        cams = list_cameras(os_name="macos", enumerate_fn=devices, authorization=lambda s=status: s)
        assert [(c.index, c.name, c.backend) for c in cams] == [
            (0, "FaceTime HD Camera", "AVFOUNDATION")
        ]
    assert devices.asked == [int(cv2.CAP_AVFOUNDATION)] * 2


@pytest.mark.parametrize("status", [1, 2])  # restricted, denied
def test_macos_denied_permission_says_where_to_allow_it(status: int) -> None:
    devices = Enumerator([_device(0, "FaceTime HD Camera")])
    with pytest.raises(CameraPermissionDenied, match="Privacy & Security > Camera"):
        list_cameras(os_name="macos", enumerate_fn=devices, authorization=lambda: status)


def test_without_a_device_list_indexes_are_probed_with_the_os_backend() -> None:
    def broken(backend: int) -> list[SimpleNamespace]:
        raise OSError("COM failed")

    probed: list[tuple[int, int]] = []

    def probe(index: int, backend: int) -> bool:
        probed.append((index, backend))
        return index == 1

    cams = list_cameras(3, os_name="windows", enumerate_fn=broken, probe=probe)
    assert probed == [(i, int(cv2.CAP_DSHOW)) for i in range(3)]
    assert [(c.index, c.name, c.backend) for c in cams] == [(1, "", "DSHOW")]


def test_linux_names_video_nodes_and_drops_metadata_nodes(monkeypatch) -> None:
    nodes = [(0, "/dev/video0", "HD Webcam"), (1, "/dev/video1", "HD Webcam")]
    monkeypatch.setattr(camera_list, "_linux_devices", lambda: nodes)
    cams = list_cameras(os_name="linux", probe=lambda i, b: i == 0)  # node 1: metadata only
    assert [(c.index, c.path, c.name, c.backend) for c in cams] == [
        (0, "/dev/video0", "HD Webcam", "V4L2")
    ]
    assert str(cams[0]) == "camera 0: HD Webcam (/dev/video0) [V4L2]"
