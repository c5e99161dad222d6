"""Searchable description attributes from a detection's crop: named colours and vehicle type.

`colour_name(crop)` maps a BGR crop's pixels (HSV) to a small palette — black, white, grey,
red, orange, brown, yellow, green, blue, purple, pink (`archive.search.PALETTE` names the
same) — by a histogram over the palette's bins, and returns the most common name. Coloured
bins win over black/white/grey when at least `CHROMA_SHARE` of the pixels are coloured: a
vehicle's paint is its colour, not its tyres, glass or the road around it. Only the crop's
central part is counted (`_centre`), where the object rather than its background lies.

`person_colours(frame, box)` reads the upper body (torso: 20-50% of the box's height) and the
lower body (legs: 55-85%); `vehicle_attributes(frame, box, vehicle type)` the vehicle's
colour. The adapters (`detectors.objects`) put them in `attributes` as `colour`,
`upper_colour`, `lower_colour` beside `class` (car, bus, truck, motorcycle, bicycle).
"""

from __future__ import annotations

import cv2
import numpy as np

from detectors.yolo import Box

__all__ = ["CHROMA_SHARE", "PALETTE", "colour_name", "person_colours", "vehicle_attributes"]

PALETTE = ("black", "white", "grey", "red", "orange", "brown", "yellow", "green", "blue",
           "purple", "pink")
CHROMA_SHARE = 0.2
_ACHROMATIC = {"black", "white", "grey"}
_MIN_PIXELS = 16


def _labels(hsv: np.ndarray) -> np.ndarray:
    """Palette index per pixel."""
    h, s, v = (hsv[..., i].astype(np.int16) for i in range(3))
    out = np.full(h.shape, PALETTE.index("grey"), dtype=np.int8)
    chroma = (s >= 50) & (v >= 60)
    hue_bins = [  # (upper bound of hue, name); OpenCV hue is 0..179
        (8, "red"), (20, "orange"), (33, "yellow"), (85, "green"), (128, "blue"),
        (148, "purple"), (168, "pink"), (180, "red")]
    low = 0
    for high, name in hue_bins:
        out[chroma & (h >= low) & (h < high)] = PALETTE.index(name)
        low = high
    out[chroma & (h >= 8) & (h < 20) & (v < 130)] = PALETTE.index("brown")
    out[chroma & ((h >= 160) | (h < 8)) & (s < 150) & (v >= 150)] = PALETTE.index("pink")
    out[~chroma & (v >= 190) & (s < 50)] = PALETTE.index("white")
    out[v < 60] = PALETTE.index("black")
    return out


def _centre(crop: np.ndarray, keep: float = 0.6) -> np.ndarray:
    h, w = crop.shape[:2]
    dy, dx = int(h * (1 - keep) / 2), int(w * (1 - keep) / 2)
    return crop[dy:h - dy, dx:w - dx]


def colour_name(crop: np.ndarray) -> str | None:
    """The crop's named colour (BGR uint8), or None for a crop too small to say."""
    if crop.ndim != 3 or crop.shape[0] * crop.shape[1] < _MIN_PIXELS:
        return None
    labels = _labels(cv2.cvtColor(crop, cv2.COLOR_BGR2HSV))
    counts = np.bincount(labels.ravel(), minlength=len(PALETTE))
    chromatic = [i for i, name in enumerate(PALETTE) if name not in _ACHROMATIC]
    if counts[chromatic].sum() >= CHROMA_SHARE * counts.sum():
        return PALETTE[chromatic[int(np.argmax(counts[chromatic]))]]
    return PALETTE[int(np.argmax(counts))]


def _cut(frame: np.ndarray, box: Box, top: float, bottom: float, left: float,
         right: float) -> np.ndarray:
    fh, fw = frame.shape[:2]
    y0, y1 = int(max(0, box.y + box.h * top)), int(min(fh, box.y + box.h * bottom))
    x0, x1 = int(max(0, box.x + box.w * left)), int(min(fw, box.x + box.w * right))
    return frame[y0:y1, x0:x1]


def person_colours(frame: np.ndarray, box: Box) -> dict[str, str]:
    """`upper_colour` (torso) and `lower_colour` (legs) of a person's box, where readable."""
    out = {}
    for name, (top, bottom) in (("upper_colour", (0.2, 0.5)), ("lower_colour", (0.55, 0.85))):
        colour = colour_name(_cut(frame, box, top, bottom, 0.2, 0.8))
        if colour is not None:
            out[name] = colour
    return out


def vehicle_attributes(frame: np.ndarray, box: Box, vehicle_type: str) -> dict[str, str]:
    """`class` and, where readable, `colour` of a vehicle's box."""
    colour = colour_name(_centre(_cut(frame, box, 0.0, 1.0, 0.0, 1.0)))
    return {"class": vehicle_type, **({"colour": colour} if colour else {})}
