"""Per-class report of the instant tier on the demo script (`cer bench instant --demo`).

Every basic expression of the demo's warps and every compound of its default script is
rendered at full intensity on the astronaut photo, found again by MediaPipe, and read live
(the unwarped photo seeded as the person's neutral baseline): basic expressions over RAF-DB
basic, compounds over RAF-DB compound. The warps encode the project's own idea of each
expression's geometry, so this is a check of the whole chain on a real face, not an
independent accuracy figure (that is `--data`, on real photographs).
"""

from __future__ import annotations

from typing import Any

import numpy as np


def demo_report() -> dict[str, Any]:
    from skimage import data

    from cer_desktop.capture.demo import DEFAULT_SCRIPT
    from cer_desktop.contracts import Face
    from cer_desktop.labels import RAF_BASIC, RAF_COMPOUND
    from cer_desktop.recognition.instant import InstantRecognizer
    from cer_desktop.recognition.prototypes import prototype_for
    from cer_desktop.vision.expression_warp import (
        BASIC_EXPRESSIONS,
        ExpressionWarper,
        astronaut_landmarks,
    )
    from cer_desktop.vision.landmarker_file import resolve_task_file
    from cer_desktop.vision.landmarks import FaceMeshDetector

    photo = np.ascontiguousarray(data.astronaut())
    warper = ExpressionWarper(photo, astronaut_landmarks())
    names = [*BASIC_EXPRESSIONS]
    names += [s.expression for s in DEFAULT_SCRIPT if s.expression not in BASIC_EXPRESSIONS]
    rows: dict[str, Any] = {}

    def face_in(image: np.ndarray) -> Face | None:
        found = detector.detect(image)
        if not found:
            return None
        return Face(
            track_id=1,
            frame_id=0,
            box=(0, 0, photo.shape[1], photo.shape[0]),
            landmarks=found[0],
            aligned=np.zeros((8, 8, 3), np.uint8),
            blendshapes=detector.last_blendshapes[0] if detector.last_blendshapes else None,
        )

    task = resolve_task_file()
    with FaceMeshDetector(max_faces=1, static_images=True, task_file=task) as detector:
        rest = face_in(photo)
        if rest is None:
            raise RuntimeError("MediaPipe does not find the demo face")
        recognizer = InstantRecognizer()
        recognizer.seed_baseline(rest, track_id=1)
        for name in names:
            face = face_in(warper.warp(name, 1.0))
            expected = prototype_for(name)[0]
            label_set = RAF_BASIC if name in BASIC_EXPRESSIONS else RAF_COMPOUND
            if face is None:
                rows[name] = {"expected": expected, "top": "no face", "correct": False}
                continue
            pred = recognizer.predict([face], label_set)[0]
            au = pred.au or {}
            rows[name] = {
                "expected": expected,
                "top": pred.top_label,
                "correct": pred.top_label == expected,
                "top3": [[label, round(p, 3)] for label, p in pred.ranked(3)],
                "aus": {k: v for k, v in au.items() if v > 0.0},
            }
    basic = [r["correct"] for n, r in rows.items() if n in BASIC_EXPRESSIONS]
    compound = [r["correct"] for n, r in rows.items() if n not in BASIC_EXPRESSIONS]
    return {
        "au_source": recognizer.au_source,
        "demo_basic_correct": f"{sum(basic)}/{len(basic)}",
        "demo_compound_correct": f"{sum(compound)}/{len(compound)}",
        "demo": rows,
    }
