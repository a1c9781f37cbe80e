"""What the PyInstaller spec builds on each OS: names, icons, the macOS bundle's Info.plist.

Imported by `cer-desktop.spec` (and by tests, which evaluate each OS's branch here): plain
Python and Pillow, no PyInstaller. Icons are generated at build time from the app's one PNG
(`cer_desktop/resources/icons/cer-desktop.png`, drawn by `assets/make_icon.py`) into the build
folder, so no binary icon files are committed.

- Linux: the one-folder app `dist/cer-desktop/` (its desktop entry is `scripts/bundle.sh`'s).
- Windows: the same folder with a windowed `cer-desktop.exe` (no console) and its `.ico`.
- macOS: `dist/cer-desktop.app` with an `.icns` and an Info.plist whose
  `NSCameraUsageDescription` makes macOS ask the user for the camera (without it, macOS ends
  an app that opens the camera).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

APP_NAME = "cer-desktop"
BUNDLE_ID = "io.github.cer-desktop"
CAMERA_USAGE = (
    "cer-desktop reads the camera to recognise facial expressions live; frames stay on this "
    "computer unless you record them or choose a remote model."
)
ICO_SIZES = [(16, 16), (24, 24), (32, 32), (48, 48), (64, 64), (128, 128), (256, 256)]


@dataclass(frozen=True)
class BundleTarget:
    """The spec's choices for one OS."""

    os_name: str  # "linux" | "windows" | "macos"
    icon: Path | None  # the icon file EXE (and BUNDLE) get
    exe: dict[str, Any] = field(default_factory=dict)  # extra EXE() arguments
    bundle: dict[str, Any] | None = None  # BUNDLE() arguments (macOS only)


def os_of(sys_platform: str | None = None) -> str:
    """ "linux", "windows" or "macos" (the spec's CER_BUNDLE_PLATFORM overrides it in tests)."""
    plat = sys.platform if sys_platform is None else sys_platform
    if plat.startswith("win"):
        return "windows"
    return "macos" if plat == "darwin" else "linux"


def make_ico(png: Path, out: Path) -> Path:
    """A multi-size Windows icon from the app's PNG."""
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(png) as im:
        im.convert("RGBA").save(out, format="ICO", sizes=ICO_SIZES)
    return out


def make_icns(png: Path, out: Path) -> Path:
    """A macOS icon (16-1024 px, Retina sizes included) from the app's PNG."""
    from PIL import Image

    out.parent.mkdir(parents=True, exist_ok=True)
    with Image.open(png) as im:
        # Pillow writes every ICNS size from the largest image; 1024 px covers 512@2x
        im.convert("RGBA").resize((1024, 1024), Image.Resampling.LANCZOS).save(out, format="ICNS")
    return out


def info_plist(version: str, min_macos: str = "13.0") -> dict[str, Any]:
    """The macOS bundle's Info.plist entries (PyInstaller adds the executable and id)."""
    return {
        "CFBundleDisplayName": APP_NAME,
        "CFBundleShortVersionString": version,
        "CFBundleVersion": version,
        "NSCameraUsageDescription": CAMERA_USAGE,
        "NSHighResolutionCapable": True,
        # the oldest macOS the lock was resolved for (update-lock.sh): 14 on Apple silicon
        "LSMinimumSystemVersion": min_macos,
    }


def bundle_target(
    os_name: str, png: Path, workdir: Path, version: str, machine: str = "arm64"
) -> BundleTarget:
    """What to build on `os_name`; icons are written under `workdir` (the build folder)."""
    if os_name == "windows":
        ico = make_ico(png, workdir / "icons" / f"{APP_NAME}.ico")
        return BundleTarget(os_name, ico, exe={"console": False, "icon": str(ico)})
    if os_name == "macos":
        icns = make_icns(png, workdir / "icons" / f"{APP_NAME}.icns")
        bundle = {
            "name": f"{APP_NAME}.app",
            "icon": str(icns),
            "bundle_identifier": BUNDLE_ID,
            "version": version,
            "info_plist": info_plist(version, "14.0" if machine == "arm64" else "13.0"),
        }
        return BundleTarget(os_name, icns, exe={"console": False, "icon": str(icns)}, bundle=bundle)
    # Linux ignores an executable's icon: the desktop entry carries it (scripts/bundle.sh)
    return BundleTarget("linux", png, exe={"console": False, "icon": str(png)})
