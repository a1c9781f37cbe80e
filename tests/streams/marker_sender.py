"""An experiment program's marker outlet (as PsychoPy's would be), in its own process.

python marker_sender.py NAME SOURCE_ID COUNT INTERVAL_S: waits up to 20 s for an inlet,
pushes COUNT markers "stim <i>" stamped with `pylsl.local_clock()`, prints one JSON list of
[text, lsl_time] and exits. SOURCE_ID "-" sends without a source id.
"""

from __future__ import annotations

import json
import sys
import time

import pylsl


def main() -> None:
    name, source_id, count, interval = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    tag = sys.argv[5] if len(sys.argv) > 5 else "stim"
    info = pylsl.StreamInfo(
        name,
        "Markers",
        1,
        pylsl.IRREGULAR_RATE,
        pylsl.cf_string,
        "" if source_id == "-" else source_id,
    )
    outlet = pylsl.StreamOutlet(info)
    if not outlet.wait_for_consumers(20.0):
        print(json.dumps({"error": "no inlet connected within 20 s"}))
        sys.exit(1)
    time.sleep(0.3)  # the inlet's first time_correction
    sent = []
    for i in range(count):
        text = f"{tag} {i}"
        ts = pylsl.local_clock()
        outlet.push_sample([text], ts)
        sent.append([text, ts])
        time.sleep(interval)
    time.sleep(0.5)  # let the last marker be read before the outlet goes
    print(json.dumps(sent))


if __name__ == "__main__":
    main()
