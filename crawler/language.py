"""An article's language: the one its page (or feed) declares, unless its text says otherwise.

Pages declare languages that are wrong: a Persian blog on a template that says ``en-us``, a
Kannada outlet's feed of English stories. py3langid (a naive Bayes model over byte n-grams,
4.6 MB, about 0.3 ms per article; README "Language" has the comparison with lingua) reads
the final text in the extraction worker. It is imported there only, on the first call: the
crawler process never loads it.

The rule (:func:`choose_language`, pure): a declaration is evidence, so the text needs more to
overrule one than to fill a gap.

- Nothing declared: the detected language, if the text has ``FILL_CHARS`` letters or more
  and the detector is ``MIN_CONFIDENCE`` sure.
- A declaration whose primary subtag is the detected language: kept as declared.
- A declaration the text contradicts: the detected language, if the text has
  ``OVERRIDE_CHARS`` letters or more and the detector is ``MIN_CONFIDENCE`` sure; else the
  declaration stays (short text, an unsure detector).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

from crawler.editorial import primary_language

if TYPE_CHECKING:
    from py3langid.langid import LanguageIdentifier

LanguageSource = Literal["declared", "detected"]

FILL_CHARS = 40  # letters to name the language of a page that declares none
OVERRIDE_CHARS = 200  # letters to overrule a page's declaration (about two sentences)
MIN_CONFIDENCE = 0.9  # py3langid's normalized probability of its best language
_DETECTED_CHARS = 400  # a paragraph: py3langid reads fa, ar, ur apart on 20; 1.3 ms at 4,000


@dataclass(frozen=True)
class Detection:
    """What the detector made of a text: an ISO 639-1 code, how sure, on how many letters."""

    language: str
    confidence: float
    letters: int


def choose_language(
    declared: str | None, detected: Detection | None
) -> tuple[str | None, LanguageSource | None]:
    """The article's language and where it came from (see the module's rule)."""
    sure = detected is not None and detected.confidence >= MIN_CONFIDENCE
    if declared:
        if (
            sure
            and detected is not None
            and detected.letters >= OVERRIDE_CHARS
            and detected.language != primary_language(declared)
        ):
            return detected.language, "detected"
        return declared, "declared"
    if sure and detected is not None and detected.letters >= FILL_CHARS:
        return detected.language, "detected"
    return None, None


def detect_language(text: str) -> Detection | None:
    """py3langid's reading of ``text`` (its first 400 characters); None for a text with no
    letters."""
    head = text[:_DETECTED_CHARS]
    letters = sum(1 for c in head if c.isalpha())
    if not letters:
        return None
    language, confidence = _identifier().classify(head)
    return Detection(str(language).lower(), float(confidence), letters)


def final_language(declared: str | None, text: str) -> tuple[str | None, LanguageSource | None]:
    """The language of an article whose page or feed declares ``declared`` and whose final
    text is ``text``, and where it came from."""
    return choose_language(declared, detect_language(text) if text else None)


@cache
def _identifier() -> LanguageIdentifier:
    """The model, loaded once per process (0.6 s: the zygote does it in ``warm()``)."""
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
