"""Synthetic distinct articles for the cost run: generated words, Zipf-distributed."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from crawler.fingerprints import TextKeys, text_keys

_ONSETS = (
    *("", "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m"),
    *("n", "p", "pr", "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z"),
)
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y")
_CODAS = ("", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck", "m")


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[int(rng.integers(len(items)))]


class SyntheticCorpus:
    """Distinct article texts from a Zipf-distributed vocabulary of generated words.

    Text ``i`` depends only on (seed, i), so any process can generate any slice of it.
    """

    def __init__(self, seed: int, vocabulary: int = 20_000, exponent: float = 1.0) -> None:
        rng = np.random.default_rng([seed, 2])
        words: dict[str, None] = {}
        while len(words) < vocabulary:
            syllables = int(rng.choice([1, 1, 2, 2, 2, 3, 3, 4]))
            word = "".join(
                _pick(rng, _ONSETS) + _pick(rng, _VOWELS) + _pick(rng, _CODAS)
                for _ in range(syllables)
            )
            words.setdefault(word, None)
        # Short words are the frequent ones, as in real text; Zipf-Mandelbrot rank weights.
        ranked = sorted(words, key=lambda w: (len(w), w))
        self.words = np.array(ranked, dtype=object)
        weights = 1.0 / (np.arange(1, vocabulary + 1) + 2.7) ** exponent
        self.cdf = np.cumsum(weights / weights.sum())
        self.seed = seed

    def article(self, index: int) -> tuple[str, str]:
        """(title, text) of article ``index``: 300-700 words in sentences and paragraphs."""
        rng = np.random.default_rng([self.seed, 3, index])
        count = int(rng.integers(300, 701))
        ids = np.minimum(np.searchsorted(self.cdf, rng.random(count + 8)), len(self.cdf) - 1)
        words: list[str] = self.words[ids].tolist()
        title = " ".join(words[count:]).capitalize()
        paragraphs: list[str] = []
        sentences: list[str] = []
        position = 0
        lengths = rng.integers(6, 26, size=count)
        breaks = rng.integers(3, 7, size=count)
        for length in lengths:
            if position >= count:
                break
            sentence = words[position : position + int(length)]
            position += int(length)
            if len(sentence) > 4:
                sentence[len(sentence) // 2] += ","
            sentences.append(" ".join(sentence).capitalize() + ".")
            if len(sentences) >= int(breaks[len(paragraphs)]):
                paragraphs.append(" ".join(sentences))
                sentences = []
        if sentences:
            paragraphs.append(" ".join(sentences))
        return title, "\n\n".join(paragraphs)


# Each worker process of the cost run's pool builds the corpus once (initializer), then
# generates slices of it with their keys while the parent writes.
_WORKER_CORPUS: SyntheticCorpus | None = None


def worker_init(seed: int) -> None:
    global _WORKER_CORPUS
    _WORKER_CORPUS = SyntheticCorpus(seed)


Generated = tuple[str, str, TextKeys]  # title, text, keys


def worker_batch(start: int, stop: int) -> list[Generated]:
    """(title, text, keys) of synthetic articles start..stop-1 (in a worker process)."""
    assert _WORKER_CORPUS is not None
    result = []
    for index in range(start, stop):
        title, text = _WORKER_CORPUS.article(index)
        result.append((title, text, text_keys(text)))
    return result
