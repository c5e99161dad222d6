"""Plate search without plaintext: folding, keyed tags, and one-edit neighbourhoods.

A plate is folded before it is tagged: upper case, letters and digits only (as
`domain.erasure.normalise_plate`), then each Cyrillic letter that looks like a Latin one is
replaced by it (`domain.erasure.fold_lookalikes`: Cyrillic A, VE, IE, KA, EM, EN, O, ER, ES,
TE, U, HA → Latin A, B, E, K, M, H, O, P, C, T, Y, X), so a plate read in Cyrillic and the
same plate read in Latin are one. The archive stores
`plate_tag = HMAC-SHA256(pepper, "archive-plate:" + folded)` (first 16 bytes, hex), never the
plate: an exact search tags the folded query; a fuzzy search tags every plate one edit away
from it (substitution, insertion or deletion over `ALPHABET`: ~700 tags for an 8-character
plate) and looks them all up in the tag index. Someone holding the database but not the pepper
can neither read nor confirm a plate.
"""

from __future__ import annotations

import hashlib
import hmac

from domain.erasure import fold_lookalikes, normalise_plate

__all__ = ["ALPHABET", "fold_plate", "one_edit", "plate_tag"]

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
"""What a folded plate is made of (Kazakh plates: Latin letters and digits)."""
_TAG_PREFIX = b"archive-plate:"


def fold_plate(text: str) -> str:
    """`"a 123 bc-02"` (Latin or Cyrillic) → `"A123BC02"`: upper case, letters and digits,
    look-alikes folded."""
    return fold_lookalikes(normalise_plate(text))


def plate_tag(pepper: bytes, folded: str) -> str:
    """The stored search tag of a folded plate (32 hex characters)."""
    return hmac.new(pepper, _TAG_PREFIX + folded.encode(), hashlib.sha256).hexdigest()[:32]


def one_edit(folded: str) -> set[str]:
    """`folded` and every string one substitution, insertion or deletion away from it."""
    out = {folded}
    for i in range(len(folded) + 1):
        for ch in ALPHABET:
            out.add(folded[:i] + ch + folded[i:])
            if i < len(folded):
                out.add(folded[:i] + ch + folded[i + 1:])
        if i < len(folded):
            out.add(folded[:i] + folded[i + 1:])
    out.discard("")
    return out
