"""Normalise whatever a camera, file or caller hands over to the RGB uint8 frames the app uses."""

from __future__ import annotations

import numpy as np

__all__ = ["to_rgb"]


def to_rgb(image: np.ndarray, *, bgr: bool = False) -> np.ndarray:
    """Return `image` as a C-contiguous RGB uint8 array of shape (H, W, 3).

    Accepts grey (H, W) or (H, W, 1), 3-channel and 4-channel images (the alpha channel is
    dropped), of any size (odd widths and heights stay as they are) and these dtypes: uint8,
    uint16 (scaled down by 257), other integers (clipped to 0..255), bool (0/255) and floats
    (0..1 when the maximum is at most 1, else 0..255; NaN becomes 0). `bgr=True` says the
    channels come in OpenCV's order (BGR / BGRA). Raises `ValueError` for anything else.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"an image must be a numpy array, not {type(image).__name__}")
    a = image
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[..., 0]
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (3, 4)):
        raise ValueError(
            f"cannot read an image of shape {image.shape}: expected (H, W), (H, W, 3|4)"
        )
    if a.shape[0] == 0 or a.shape[1] == 0:
        raise ValueError(f"empty image of shape {image.shape}")
    a = _to_uint8(a)
    if a.ndim == 2:
        return np.ascontiguousarray(np.repeat(a[:, :, None], 3, axis=2))
    if bgr:
        return np.ascontiguousarray(a[:, :, 2::-1])
    return np.ascontiguousarray(a[:, :, :3])


def _to_uint8(a: np.ndarray) -> np.ndarray:
    if a.dtype == np.uint8:
        return a
    if a.dtype == np.bool_:
        return a.astype(np.uint8) * 255
    if a.dtype == np.uint16:
        return (a // 257).astype(np.uint8)
    if np.issubdtype(a.dtype, np.integer):
        return np.clip(a, 0, 255).astype(np.uint8)
    if np.issubdtype(a.dtype, np.floating):
        f = np.nan_to_num(a.astype(np.float32), nan=0.0, posinf=255.0, neginf=0.0)
        if f.size and float(f.max()) <= 1.0:
            f = f * 255.0
        return np.clip(np.rint(f), 0, 255).astype(np.uint8)
    raise ValueError(f"cannot read an image of dtype {a.dtype}")
