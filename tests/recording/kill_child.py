"""Child process for the SIGKILL test: records paced synthetic frames until it is killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from rec_synthetic import make_annotation  # noqa: E402

from cer_desktop.recording.recorder import SessionRecorder  # noqa: E402

folder = Path(sys.argv[1])
rec = SessionRecorder(folder, record_raw=True, fps=30)
i = 0
t0 = time.monotonic()
while True:  # until SIGKILL
    ann, painted = make_annotation(i, t0=t0)
    rec.submit(ann, painted)
    i += 1
    time.sleep(max(0.0, t0 + i / 30 - time.monotonic()))
