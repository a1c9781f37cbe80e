"""Child process of `test_core_install.py`: run the light core's paths, report what was imported.

Usage: python tests/core_paths.py WORKDIR [--block-extras]. Runs `cer annotate` (instant tier)
on a clip it makes, `cer report` and `cer recover` on the result, and `cer-desktop --smoke`
(window, demo, MediaPipe, instant recognizer, painter, recorder); with `--block-extras` the
extras' modules are made unimportable first, as on a core install. Prints, as its last line,
one JSON object: every command's exit code and the extras' modules found in `sys.modules`.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
from fractions import Fraction
from pathlib import Path

work = Path(sys.argv[1])
if "--block-extras" in sys.argv:
    from cer_desktop.extras import MODULE_EXTRA

    for name in MODULE_EXTRA:
        sys.modules[name] = None  # type: ignore[assignment]  # import raises, find_spec is None

import av  # noqa: E402
import cv2  # noqa: E402
import numpy as np  # noqa: E402
from skimage import data  # noqa: E402

from cer_desktop.cli import main as cer  # noqa: E402
from cer_desktop.gui.app import main as cer_desktop  # noqa: E402

os.environ["CER_DESKTOP_CONFIG_DIR"] = str(work / "config")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

# A 12-frame clip of a real face (scikit-image's astronaut), moving sideways.
face = cv2.resize(np.ascontiguousarray(data.astronaut()), (320, 320))
clip = work / "inputs" / "clip.mp4"
clip.parent.mkdir(parents=True, exist_ok=True)
with av.open(str(clip), "w") as c:
    s = c.add_stream("libx264", rate=10)
    s.width, s.height, s.pix_fmt = 320, 320, "yuv420p"
    s.codec_context.time_base = Fraction(1, 10)
    for i in range(12):
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(np.roll(face, i, 1)), "rgb24")
        for p in s.encode(frame):
            c.mux(p)
    for p in s.encode():
        c.mux(p)

out = work / "annotated"
codes = {
    "annotate": cer(["annotate", str(clip), "-o", str(out), "--no-progress"]),
    "report": cer(["report", str(out / "clip.mp4")]),
    "recover": cer(["recover", "--force", str(out / "clip.mp4")]),
}
smoke = io.StringIO()
with contextlib.redirect_stdout(smoke):
    codes["smoke"] = cer_desktop(["--smoke"])
from cer_desktop.recording.csvlog import read_rows  # noqa: E402

rows = list(read_rows(out / "clip.mp4"))
from cer_desktop.extras import MODULE_EXTRA  # noqa: E402

print(
    json.dumps(
        {
            "codes": codes,
            "annotate_rows": len(rows),
            "annotate_recognizers": sorted({r["recognizer"] for r in rows}),
            "smoke": json.loads(smoke.getvalue().strip().splitlines()[-1]),
            "heavy_modules": sorted(m for m in MODULE_EXTRA if sys.modules.get(m) is not None),
        }
    )
)
