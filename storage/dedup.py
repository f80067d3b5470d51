"""Dedup decided once: is an article new, or a copy of one already stored (or of one saved
earlier in the same batch), and by which kind of match?

:func:`decide` is pure: records in, the stored rows they could match in (looked up by
:mod:`storage.articles` in a few statements), decisions out. Every save goes through it: a
batch, and a record decided alone again after losing a race to another writer.

Kinds, in the order they are tried:

1. ``duplicate_url``: the same address (its canonical URL or the page's rel=canonical);
2. ``duplicate_guid`` / ``duplicate_url_id``: the same feed GUID or URL id within the source;
3. ``duplicate_content``: the same normalized text (its hash);
4. ``duplicate_near``: the most similar of the articles sharing the most LSH bands, if its
   similarity reaches the threshold (the first of equals wins).

A record no stored article matches is then tried against the tombstones of deleted articles
(``storage.tombstones``), by the same kinds in the same order: a story that comes back after
retention deleted it is still a duplicate. A tombstone keeps no text, so there a near
duplicate's similarity is estimated from the share of band keys in common.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from storage.records import ArticleRecord, NearProbe, SaveOutcome

# Near-duplicate candidates compared exactly per article: those sharing the most bands.
NEAR_CANDIDATES = 10
# Rows of MinHash per LSH band (crawler.fingerprints.LSH_ROWS; a test keeps them equal): two
# texts of similarity s share a band with probability s ** rows.
LSH_ROWS = 4


@dataclass(frozen=True)
class Decision:
    """What to do with one record: store it (``new``), or record it as a copy of a stored
    article (``article_id``) or of an earlier new record of the same batch (``copy_of``)."""

    outcome: SaveOutcome
    article_id: int | None = None
    copy_of: int | None = None  # index into the batch
    similarity: float | None = None  # near-duplicates only
    # A deleted article's tombstone matched: its id (``article_id`` is the deleted article's).
    tombstone: int | None = None


@dataclass
class StoredCandidates:
    """The stored rows a batch's records could match, by kind: article ids by address, by
    (kind, key) identity, by text hash and by near-duplicate band, plus the texts of the
    near-duplicate candidates to compare with."""

    urls: dict[str, int] = field(default_factory=dict)
    keys: dict[tuple[str, str], int] = field(default_factory=dict)
    hashes: dict[str, int] = field(default_factory=dict)
    bands: dict[int, list[int]] = field(default_factory=dict)
    texts: dict[int, str] = field(default_factory=dict)
    gone: GoneCandidates | None = None  # the tombstones they could match

    def exact(self, record: ArticleRecord) -> tuple[SaveOutcome, int] | None:
        """The first exact match of ``record``: by address, then GUID, then URL id, then hash."""
        for url in record.addresses():
            if url in self.urls:
                return "duplicate_url", self.urls[url]
        for kind, key in record.identity_keys():
            if (kind, key) in self.keys:
                return _KEY_OUTCOMES[kind], self.keys[kind, key]
        if record.content_hash in self.hashes:
            return "duplicate_content", self.hashes[record.content_hash]
        return None

    def near_candidates(self, bands: Iterable[int]) -> list[int]:
        """Ids sharing a band with ``bands``: most shared bands first, then lowest id; at most
        :data:`NEAR_CANDIDATES`."""
        shared: dict[int, int] = {}
        for band in set(bands):
            for article_id in self.bands.get(band, ()):
                shared[article_id] = shared.get(article_id, 0) + 1
        return sorted(shared, key=lambda a: (-shared[a], a))[:NEAR_CANDIDATES]


@dataclass
class GoneCandidates(StoredCandidates):
    """The tombstones a batch's records could match: tombstone ids by address, identity,
    text hash and band (no texts), and the deleted article of each tombstone."""

    articles: dict[int, int] = field(default_factory=dict)

    def match(self, record: ArticleRecord, near_threshold: float | None) -> Decision | None:
        """The first tombstone ``record`` matches exactly, else (with ``near_threshold``) the
        one sharing the most bands, if the similarity estimated from them reaches it."""
        exact = self.exact(record)
        if exact is not None:
            outcome, tombstone = exact
            return Decision(outcome, self.articles[tombstone], tombstone=tombstone)
        if near_threshold is None or record.near is None:
            return None
        bands = set(record.near.bands)
        for tombstone in self.near_candidates(bands)[:1]:
            shared = sum(tombstone in self.bands.get(band, ()) for band in bands)
            similarity = round((shared / len(bands)) ** (1 / LSH_ROWS), 4)
            if similarity >= near_threshold:
                article = self.articles[tombstone]
                return Decision("duplicate_near", article, None, similarity, tombstone)
        return None


def decide(
    records: Sequence[ArticleRecord], stored: StoredCandidates, near_threshold: float | None
) -> list[Decision]:
    """Decide each record in order, against ``stored`` and the batch's own earlier new records.

    ``near_threshold`` None: no near-duplicate detection. ``stored.texts`` must hold the texts
    of the stored near candidates of each record that has no exact stored match.
    """
    known = _Known(stored)
    decisions: list[Decision] = []
    for index, record in enumerate(records):
        match = known.exact(record)
        if match is None and near_threshold is not None and record.near is not None:
            match = known.near(record.near, near_threshold)
        buried = stored.gone.match(record, near_threshold) if stored.gone and not match else None
        if buried is not None:
            decisions.append(buried)
            continue
        if match is None:
            known.add_new(index, record)
            decisions.append(Decision("new"))
            continue
        outcome, target, similarity = match
        known.add_addresses(target, record)
        if target >= _BATCH:
            decisions.append(Decision(outcome, copy_of=target - _BATCH, similarity=similarity))
        else:
            decisions.append(Decision(outcome, article_id=target, similarity=similarity))
    return decisions


def most_similar(
    near: NearProbe, candidates: Iterable[tuple[int, str | None]], threshold: float
) -> tuple[int, float] | None:
    """Of (article id, text) candidates, the most similar to ``near`` and its similarity, if
    it reaches ``threshold``; the first of equals wins."""
    best: tuple[int, float] | None = None
    for article_id, text in candidates:
        similarity = near.similarity(text or "")
        if similarity >= threshold and (best is None or similarity > best[1]):
            best = (article_id, round(similarity, 4))
    return best


# A batch's new records are referred to as _BATCH + their index: above any real id, in batch
# order, so that "lowest id first" among near candidates ranks stored articles first.
_BATCH = 1 << 62
_KEY_OUTCOMES: dict[str, SaveOutcome] = {"guid": "duplicate_guid", "url_id": "duplicate_url_id"}
_Match = tuple[SaveOutcome, int, float | None]  # outcome, target id, similarity


class _Known:
    """The stored candidates plus the batch's new records, as they are decided."""

    def __init__(self, stored: StoredCandidates) -> None:
        self.stored = stored
        self.index = StoredCandidates(
            dict(stored.urls),
            dict(stored.keys),
            dict(stored.hashes),
            {band: list(ids) for band, ids in stored.bands.items()},
            dict(stored.texts),
        )

    def exact(self, record: ArticleRecord) -> _Match | None:
        match = self.index.exact(record)
        return (match[0], match[1], None) if match else None

    def near(self, near: NearProbe, threshold: float) -> _Match | None:
        candidates = self.index.near_candidates(near.bands)
        found = most_similar(near, ((a, self.index.texts.get(a)) for a in candidates), threshold)
        return ("duplicate_near", *found) if found else None

    def add_new(self, index: int, record: ArticleRecord) -> None:
        """A new article of the batch: later records may be copies of it."""
        ref = _BATCH + index
        self.add_addresses(ref, record)
        for key in record.identity_keys():
            self.index.keys.setdefault(key, ref)
        self.index.hashes.setdefault(record.content_hash, ref)
        self.index.texts[ref] = record.text
        if record.near is not None:
            for band in set(record.near.bands):
                self.index.bands.setdefault(band, []).append(ref)

    def add_addresses(self, target: int, record: ArticleRecord) -> None:
        for url in record.addresses():
            self.index.urls.setdefault(url, target)  # the first claim of an address wins


def near_rows(article_id: int, record: ArticleRecord) -> list[dict[str, Any]]:
    """``article_near_keys`` rows of an article's text: its LSH band keys (none without)."""
    if record.near is None:
        return []
    return [{"key": key, "article_id": article_id} for key in set(record.near.bands)]
