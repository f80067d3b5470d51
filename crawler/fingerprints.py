"""Dedup keys computed from an article's text."""

from __future__ import annotations

import hashlib
import re
import unicodedata

# Arabic-script letters that Persian, Arabic and Urdu sites spell interchangeably.
_LETTER_VARIANTS = str.maketrans(
    {
        "\u064a": "\u06cc",  # ARABIC LETTER YEH -> FARSI YEH
        "\u0649": "\u06cc",  # ALEF MAKSURA -> FARSI YEH
        "\u0643": "\u06a9",  # ARABIC LETTER KAF -> KEHEH
        "\u0629": "\u0647",  # TEH MARBUTA -> HEH
        "\u0623": "\u0627",  # ALEF WITH HAMZA ABOVE -> ALEF
        "\u0625": "\u0627",  # ALEF WITH HAMZA BELOW -> ALEF
        "\u0622": "\u0627",  # ALEF WITH MADDA ABOVE -> ALEF
        "\u200c": " ",  # ZERO WIDTH NON-JOINER (Persian half-space)
        "\u0640": None,  # TATWEEL (kashida), decorative only
    }
)
# Arabic diacritics (harakat) carry no identity for dedup.
_DIACRITICS = re.compile("[\u064b-\u065f\u0670]")
_SPACE = re.compile(r"\s+")


def normalize_text(text: str) -> str:
    """NFKC, case-folded, Arabic-script variants unified, no diacritics, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _DIACRITICS.sub("", text.translate(_LETTER_VARIANTS))
    return _SPACE.sub(" ", text).strip()


def content_hash(text: str) -> str:
    """sha256 (hex) of the normalized text: equal for copies differing only in spelling noise."""
    return hashlib.sha256(normalize_text(text).encode("utf-8")).hexdigest()
