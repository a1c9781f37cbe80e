"""The one overlay painter: the view and the recorder both show exactly what it draws."""

from __future__ import annotations

import cv2
import numpy as np

from cer_desktop.contracts import Annotation, FaceAnnotation

FONT = cv2.FONT_HERSHEY_SIMPLEX
# RGB colours per track id (cycled), chosen to stay readable on skin and backgrounds.
TRACK_COLOURS: tuple[tuple[int, int, int], ...] = (
    (0, 200, 255),
    (255, 170, 0),
    (120, 255, 80),
    (255, 80, 200),
    (180, 120, 255),
    (255, 255, 90),
)
WHITE = (255, 255, 255)
BLACK = (0, 0, 0)
WARN = (255, 210, 0)
BAR_BG = (60, 60, 60)
BAR_FG = (80, 220, 120)
UNCERTAIN_COLOUR = (200, 200, 200)


def track_colour(track_id: int) -> tuple[int, int, int]:
    """The colour a track is drawn in."""
    return TRACK_COLOURS[track_id % len(TRACK_COLOURS)]


def paint(annotation: Annotation, *, show_aus: bool = False) -> np.ndarray:
    """An RGB copy of the annotation's frame with every face's overlay drawn on it.

    Per face: the box and track id, the top label with its probability (or "uncertain"
    under the threshold), top-3 probability bars, a small hollow-circle marker when the
    label is carried over from an earlier frame, and quality warnings. `show_aus` adds the
    AU evidence. A pure function of `annotation`: the same annotation paints the same pixels.
    """
    image = _as_rgb(annotation.frame.image)
    out = np.ascontiguousarray(image.copy())
    h, w = out.shape[:2]
    # Scale text with the frame so 640x480 reads well and larger frames are not tiny.
    scale = max(0.4, min(1.6, w / 1280.0 + 0.1))
    for fa in annotation.faces:
        _paint_face(out, fa, scale, show_aus)
    if annotation.message:
        _text_box(out, annotation.message, (6, h - 8), scale * 1.0, WHITE, BLACK)
    return out


def _as_rgb(image: np.ndarray) -> np.ndarray:
    """Be defensive: grey, BGRA/RGBA and float frames become RGB uint8."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        return cv2.cvtColor(a, cv2.COLOR_GRAY2RGB)
    if a.ndim == 3 and a.shape[2] == 1:
        return cv2.cvtColor(a[:, :, 0], cv2.COLOR_GRAY2RGB)
    if a.ndim == 3 and a.shape[2] == 4:
        return np.ascontiguousarray(a[:, :, :3])
    if a.ndim == 3 and a.shape[2] == 3:
        return a
    raise ValueError(f"cannot paint an image of shape {a.shape}")


def _paint_face(out: np.ndarray, fa: FaceAnnotation, scale: float, show_aus: bool) -> None:
    h, w = out.shape[:2]
    face = fa.face
    colour = track_colour(face.track_id)
    x, y, bw, bh = (int(v) for v in face.box)
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(w - 1, x + bw), min(h - 1, y + bh)
    thick = max(1, round(2 * scale))
    cv2.rectangle(out, (x0, y0), (x1, y1), colour, thick, cv2.LINE_AA)

    pred = fa.prediction
    if pred is None:
        title = f"#{face.track_id}  ..."
        title_colour = UNCERTAIN_COLOUR
    else:
        if pred.uncertain:
            title = f"#{face.track_id}  uncertain ({pred.top_prob:.0%})"
            title_colour = UNCERTAIN_COLOUR
        else:
            title = f"#{face.track_id}  {pred.top_label} {pred.top_prob:.0%}"
            title_colour = WHITE
    # Title above the box, or inside its top when there is no room above.
    (tw, th), base = cv2.getTextSize(title, FONT, scale * 1.1, 1)
    ty = y0 - 6 if y0 - th - base - 6 > 0 else y0 + th + 6
    tx = min(max(0, x0), max(0, w - tw - 6))
    _text_box(out, title, (tx, ty), scale * 1.1, title_colour, colour, fg_thick=1)

    if pred is not None and not fa.fresh:
        # Hollow circle at the box's top-right corner: "this label is from an earlier frame".
        r = max(4, round(6 * scale))
        cv2.circle(
            out,
            (min(w - r - 1, x1 - r - 3), min(h - r - 1, y0 + r + 3)),
            r,
            WARN,
            thick,
            cv2.LINE_AA,
        )
    elif pred is not None:
        r = max(4, round(6 * scale))
        cv2.circle(
            out,
            (min(w - r - 1, x1 - r - 3), min(h - r - 1, y0 + r + 3)),
            r,
            colour,
            -1,
            cv2.LINE_AA,
        )

    # Top-3 bars on a dark panel under the box (inside its bottom when the frame ends first).
    cursor_y = y1 + 4
    if pred is not None:
        rows = pred.ranked(3)
        fs = scale * 0.8
        texts = [f"{label} {p:.0%}" for label, p in rows]
        text_w = max(cv2.getTextSize(t, FONT, fs, 1)[0][0] for t in texts)
        text_h = cv2.getTextSize("Ag", FONT, fs, 1)[0][1]
        bar_h = max(3, round(5 * scale))
        row_h = text_h + bar_h + round(8 * scale)
        panel_w = text_w + 10
        panel_h = row_h * len(rows) + 4
        if cursor_y + panel_h > h:
            cursor_y = max(0, y1 - panel_h - 2)
        bx = min(max(0, x0), max(0, w - panel_w - 2))
        cv2.rectangle(out, (bx, cursor_y), (bx + panel_w, cursor_y + panel_h), BAR_BG, -1)
        ry = cursor_y + 2
        for (_label, p), text in zip(rows, texts, strict=True):
            cv2.putText(out, text, (bx + 5, ry + text_h + 2), FONT, fs, WHITE, 1, cv2.LINE_AA)
            by = ry + text_h + 5
            cv2.rectangle(out, (bx + 5, by), (bx + panel_w - 5, by + bar_h), (30, 30, 30), -1)
            fill = round((panel_w - 10) * min(1.0, max(0.0, float(p))))
            if fill > 0:
                cv2.rectangle(out, (bx + 5, by), (bx + 5 + fill, by + bar_h), BAR_FG, -1)
            ry += row_h
        cursor_y += panel_h + 2

    warnings = face.quality.names()
    if warnings:
        text = "! " + ", ".join(n.replace("_", " ") for n in warnings)
        ty = min(h - 4, cursor_y + round(16 * scale))
        if ty < 20:
            ty = 20
        _text_box(out, text, (min(max(0, x0), w - 10), ty), scale * 0.8, BLACK, WARN)
        cursor_y += round(20 * scale)

    if show_aus and pred is not None and pred.au:
        ay = y0 + round(34 * scale)
        for name, value in sorted(pred.au.items()):
            if ay > y1:
                break
            cv2.putText(
                out, f"{name} {value:.1f}", (x0 + 4, ay), FONT, scale * 0.7, BLACK, 2, cv2.LINE_AA
            )
            cv2.putText(
                out, f"{name} {value:.1f}", (x0 + 4, ay), FONT, scale * 0.7, WHITE, 1, cv2.LINE_AA
            )
            ay += round(20 * scale)


def _text_box(
    out: np.ndarray,
    text: str,
    origin: tuple[int, int],
    scale: float,
    fg: tuple[int, int, int],
    bg: tuple[int, int, int],
    fg_thick: int = 1,
) -> None:
    """Text on a filled rectangle (origin = text baseline left)."""
    (tw, th), base = cv2.getTextSize(text, FONT, scale, fg_thick)
    x, y = origin
    cv2.rectangle(out, (x, y - th - 4), (x + tw + 6, y + base), bg, -1)
    # Dark text on light backgrounds, light text on dark ones (by the background's luminance).
    light_bg = 0.299 * bg[0] + 0.587 * bg[1] + 0.114 * bg[2] > 140
    if light_bg and sum(fg) > 450:
        fg = BLACK
    elif not light_bg and sum(fg) < 300:
        fg = WHITE
    cv2.putText(out, text, (x + 3, y - 1), FONT, scale, fg, fg_thick, cv2.LINE_AA)
