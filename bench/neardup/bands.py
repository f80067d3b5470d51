"""Which stored articles share an LSH band with a text, worked out by the bench itself.

Storage keeps each new article's band keys (``TextKeys.near.bands``, from the public
``crawler.fingerprints``) and compares a new text with stored articles that share a band. The
bench knows every article it stored and its keys, so it can tell which stored articles a text
could be compared with at all, without asking storage how it indexes them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class BandIndex:
    """Band keys of stored articles, in numpy arrays (100k articles: ~25 MB)."""

    def __init__(self) -> None:
        self._keys: list[np.ndarray] = []
        self._ids: list[np.ndarray] = []
        self._flat: tuple[np.ndarray, np.ndarray] | None = None

    def add(self, article_id: int, bands: Sequence[int]) -> None:
        """Article ``article_id`` is stored with ``bands``."""
        unique = np.unique(np.asarray(bands, dtype=np.int64))
        self._keys.append(unique)
        self._ids.append(np.full(unique.size, article_id, dtype=np.int64))
        self._flat = None

    def __len__(self) -> int:
        return len(self._keys)

    def sharing(self, probes: Sequence[Sequence[int]]) -> list[dict[int, int]]:
        """For each probe's bands: stored article id -> how many of its bands it shares."""
        if self._flat is None:
            empty = np.empty(0, dtype=np.int64)
            self._flat = (
                np.concatenate(self._keys) if self._keys else empty,
                np.concatenate(self._ids) if self._ids else empty,
            )
            self._keys, self._ids = [self._flat[0]], [self._flat[1]]
        keys, ids = self._flat
        wanted: dict[int, list[int]] = {}
        for number, bands in enumerate(probes):
            for band in set(bands):
                wanted.setdefault(int(band), []).append(number)
        result: list[dict[int, int]] = [{} for _ in probes]
        lookup = np.fromiter(wanted, dtype=np.int64, count=len(wanted))
        for position in np.flatnonzero(np.isin(keys, lookup)):
            article_id = int(ids[position])
            for number in wanted[int(keys[position])]:
                result[number][article_id] = result[number].get(article_id, 0) + 1
        return result


def ranked(shared: dict[int, int]) -> list[int]:
    """Article ids by shared bands, most first, then lowest id first (the order in which
    storage's documentation says it compares candidates)."""
    return sorted(shared, key=lambda article_id: (-shared[article_id], article_id))
