"""Plate text normalisation, shared by the reader and the wanted-plates list in the config.

`normalise_plate` maps Cyrillic look-alike letters to Latin and drops separators, so a
wanted-list entry matches however it was typed. Pure string work: no OpenCV, no model.
"""

from __future__ import annotations

import re

__all__ = ["normalise_plate"]

# Cyrillic plate letters that look like Latin ones, written as escapes to stay unambiguous.
_CYRILLIC = "\u0410\u0412\u0415\u041a\u041c\u041d\u041e\u0420\u0421\u0422\u0423\u0425"
_LOOKALIKE = str.maketrans(_CYRILLIC, "ABEKMHOPCTYX")
_RU_PLATE = re.compile(r"^[ABEKMHOPCTYX]\d{3}[ABEKMHOPCTYX]{2}\d{2,3}$")
_AS_LETTER = str.maketrans("0", "O")
_AS_DIGIT = str.maketrans("O", "0")


def _ru_positions(plate: str) -> str:
    """Resolve O/0 by position when the text fits the Russian format L DDD LL DD(D)."""
    if len(plate) not in (8, 9):
        return plate
    fixed = "".join(ch.translate(_AS_LETTER if i in (0, 4, 5) else _AS_DIGIT)
                    for i, ch in enumerate(plate))
    return fixed if _RU_PLATE.match(fixed) else plate


def normalise_plate(text: str) -> str:
    """Upper-case, Cyrillic look-alikes to Latin, only letters and digits kept, and O/0
    resolved by position for plates in the Russian format."""
    plate = "".join(ch for ch in text.upper().translate(_LOOKALIKE) if ch.isalnum())
    return _ru_positions(plate)
