"""Articles: which feed entries are already known, and the one save path (dedup decided in
the transaction that writes the article or its batch).

The database's unique constraints (``articles.url``, ``articles.content_hash``,
``article_urls.url``) are the last word: two crawls writing the same story at once store it
once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Article, ArticleKey, ArticleUrl, NearKey, utcnow
from storage.records import (
    ArticleRecord,
    EntryIdentity,
    NearProbe,
    SaveOutcome,
    SaveResult,
)
from storage.statements import chunks, insert_ignore, insert_statement

_NEAR_CANDIDATES = 10


def known_entries(db: Database, source_id: int, entries: Sequence[EntryIdentity]) -> set[str]:
    """The URLs of ``entries`` already stored, so not to be fetched again.

    An entry is known by its address, or within its source by its feed GUID or URL id; an
    entry known only by the latter is a new address of a stored story, recorded here as its
    alias (``article_urls`` kind ``duplicate_guid`` / ``duplicate_url_id``) without a fetch.
    """
    by_url = {entry.url: entry for entry in entries}
    known = _known_urls(db, by_url)
    guids = {f"{source_id}:{e.guid}": url for url, e in by_url.items() if e.guid}
    ids = {f"{source_id}:{e.url_id}": url for url, e in by_url.items() if e.url_id}
    aliases: dict[str, tuple[int, str, str]] = {}
    for kind, keyed in (("guid", guids), ("url_id", ids)):
        for key, article_id in _known_keys(db, kind, keyed).items():
            url = keyed[key]
            if url not in known and url not in aliases:
                aliases[url] = (article_id, url, f"duplicate_{kind}")
    _add_aliases(db, source_id, list(aliases.values()))
    return known | set(aliases)


def _known_urls(db: Database, urls: Iterable[str]) -> set[str]:
    """The subset of ``urls`` (canonical) already stored as an address of some article."""
    wanted = sorted(set(urls))
    found: set[str] = set()
    with db.reading() as session:
        for chunk in chunks(wanted):
            found.update(session.scalars(select(ArticleUrl.url).where(ArticleUrl.url.in_(chunk))))
    return found


def _known_keys(db: Database, kind: str, keys: Iterable[str]) -> dict[str, int]:
    """Which of ``keys`` (``source_id:value``) of ``kind`` are stored: key -> article id."""
    wanted = sorted(set(keys))
    found: dict[str, int] = {}
    with db.reading() as session:
        for chunk in chunks(wanted):
            rows = session.execute(
                select(ArticleKey.key, ArticleKey.article_id).where(
                    ArticleKey.kind == kind, ArticleKey.key.in_(chunk)
                )
            )
            found.update({key: article_id for key, article_id in rows})
    return found


def _add_aliases(db: Database, source_id: int, aliases: Sequence[tuple[int, str, str]]) -> None:
    """Record (article id, canonical URL, kind) addresses of stored articles, learnt without
    fetching the page (its feed GUID or URL id was already known)."""
    if not aliases:
        return
    now = utcnow()
    rows = [
        {"article_id": article_id, "url": url, "kind": kind, "source_id": source_id, "seen_at": now}
        for article_id, url, kind in aliases
    ]
    with db.transaction() as session:
        insert_ignore(session, ArticleUrl, rows, ["url"])


def save_article(
    db: Database, record: ArticleRecord, *, near_threshold: float | None = None
) -> SaveResult:
    """Store ``record`` as a new article, or record its addresses as another copy of a stored one.

    Checked in order: same address (canonical URL or the page's rel=canonical), same feed
    GUID or URL id within the source, same normalized text, and (with ``near_threshold``)
    a near-duplicate text. Nothing is dropped silently: every address ends up in
    ``article_urls`` with the kind of match (and the similarity, for near-duplicates).
    """
    return db.retrying(lambda session: _save(session, record, near_threshold))


def save_articles(
    db: Database, records: Sequence[ArticleRecord], *, near_threshold: float | None = None
) -> list[SaveResult]:
    """Save several articles in one transaction (one commit instead of many).

    Saved in URL order, so concurrent writers take row locks in the same order; results
    come back in the order given.
    """
    order = sorted(range(len(records)), key=lambda i: records[i].url)

    def together(session: Session) -> list[SaveResult]:
        results = _save_batch(session, [records[i] for i in order], near_threshold)
        by_index = dict(zip(order, results, strict=True))
        return [by_index[i] for i in range(len(records))]

    def one_by_one(session: Session) -> list[SaveResult]:
        results: dict[int, SaveResult] = {}
        for i in order:
            results[i] = _save(session, records[i], near_threshold)
        return [results[i] for i in range(len(records))]

    try:
        return db.retrying(together)
    except _Conflict:
        # Another writer stored one of these stories between our look-up and our insert
        # (rolled back): decide again article by article, where the loser of a race
        # becomes a duplicate of the winner.
        return db.retrying(one_by_one)


class _Conflict(Exception):
    """A batch insert hit a row another writer had just stored."""


def _save_batch(
    session: Session, records: Sequence[ArticleRecord], near_threshold: float | None
) -> list[SaveResult]:
    """:func:`_save` for several records in a handful of statements instead of ~6 each.

    Every record is looked up at once (addresses, keys, hashes and near-duplicate bands in
    one query each), decided in order against what is stored and what the batch itself
    stores first, then the new rows go in with one statement per table. Raises
    :class:`_Conflict` when an article insert was refused: another writer got there first.
    """
    stored = _StoredCopies.lookup(session, records, near_threshold is not None)
    results: list[SaveResult] = []
    new: list[tuple[int, ArticleRecord]] = []  # (placeholder id, record)
    texts: dict[int, str] = {}  # of this batch's new articles, by placeholder id
    for record in records:
        match = stored.exact(record)
        if match is None and near_threshold is not None and record.near is not None:
            match = stored.near(session, record.near, near_threshold, texts)
        if match is None:
            placeholder = _PLACEHOLDER + len(new)
            new.append((placeholder, record))
            texts[placeholder] = record.text
            stored.add(placeholder, record)
            match = SaveResult("new", placeholder)
        else:
            stored.add_addresses(match.article_id, record)
        results.append(match)
    ids = _insert_articles(session, [record for _, record in new])
    real = {placeholder: ids[record.url] for placeholder, record in new}
    results = [
        SaveResult(r.outcome, real.get(r.article_id, r.article_id), r.similarity) for r in results
    ]
    url_rows: list[dict[str, Any]] = []
    key_rows: list[dict[str, Any]] = []
    near_rows: list[dict[str, Any]] = []
    for result, record in zip(results, records, strict=True):
        url_rows += _address_rows(result, record)
        if result.outcome == "new":
            key_rows += _key_rows(result.article_id, record)
            near_rows += _near_rows(result.article_id, record)
    insert_ignore(session, ArticleUrl, url_rows, ["url"])
    insert_ignore(session, ArticleKey, key_rows, ["kind", "key"])
    insert_ignore(session, NearKey, near_rows, ["key", "article_id"])
    return results


# Ids of articles a batch is about to insert: above any real id, in insertion order (so the
# near-duplicate tie-break "lowest id first" holds for them too).
_PLACEHOLDER = 1 << 62


@dataclass
class _StoredCopies:
    """What a batch's records match: the stored rows found by one look-up per kind, plus
    the batch's own new articles as they are decided."""

    urls: dict[str, int]
    keys: dict[tuple[str, str], int]
    hashes: dict[str, int]
    bands: dict[int, list[int]]  # near-duplicate band key -> article ids
    texts: dict[int, str]  # of stored near-duplicate candidates

    @classmethod
    def lookup(
        cls, session: Session, records: Sequence[ArticleRecord], near: bool
    ) -> _StoredCopies:
        urls = sorted({url for r in records for url in r.addresses()})
        keys = sorted({key for r in records for key in r.identity_keys()})
        hashes = sorted({r.content_hash for r in records})
        bands = sorted({b for r in records if near and r.near for b in r.near.bands})
        found = cls({}, {}, {}, {}, {})
        for chunk in chunks(urls):
            found.urls.update(session.execute(_URLS_OF, {"urls": chunk}).all())
        for kind in ("guid", "url_id"):
            for chunk in chunks([key for k, key in keys if k == kind]):
                rows = session.execute(_KEYS_OF, {"kind": kind, "keys": chunk})
                found.keys.update(((kind, key), article_id) for key, article_id in rows)
        for chunk in chunks(hashes):
            found.hashes.update(session.execute(_HASHES_OF, {"hashes": chunk}).all())
        for chunk in chunks(bands):
            for band, article_id in session.execute(_BANDS_OF, {"bands": chunk}):
                found.bands.setdefault(band, []).append(article_id)
        return found

    def exact(self, record: ArticleRecord) -> SaveResult | None:
        """The first match by address, then GUID, then URL id, then text hash."""
        for url in record.addresses():
            if url in self.urls:
                return SaveResult("duplicate_url", self.urls[url])
        for kind, key in record.identity_keys():
            if (kind, key) in self.keys:
                return SaveResult(_KEY_OUTCOMES[kind], self.keys[kind, key])
        if record.content_hash in self.hashes:
            return SaveResult("duplicate_content", self.hashes[record.content_hash])
        return None

    def near(
        self, session: Session, near: NearProbe, threshold: float, batch_texts: dict[int, str]
    ) -> SaveResult | None:
        """As :func:`_near_copy`: the most similar of the ten articles sharing most bands."""
        shared: dict[int, int] = {}
        for band in set(near.bands):
            for article_id in self.bands.get(band, ()):
                shared[article_id] = shared.get(article_id, 0) + 1
        candidates = sorted(shared, key=lambda a: (-shared[a], a))[:_NEAR_CANDIDATES]
        missing = [a for a in candidates if a not in batch_texts and a not in self.texts]
        if missing:
            self.texts.update(session.execute(_TEXTS_OF, {"ids": missing}).all())
        texts = ((a, batch_texts.get(a, self.texts.get(a))) for a in candidates)
        return _most_similar(near, texts, threshold)

    def add(self, article_id: int, record: ArticleRecord) -> None:
        """A new article of the batch: later records may be copies of it."""
        self.add_addresses(article_id, record)
        for key in record.identity_keys():
            self.keys.setdefault(key, article_id)
        self.hashes.setdefault(record.content_hash, article_id)
        if record.near is not None:
            for band in set(record.near.bands):
                self.bands.setdefault(band, []).append(article_id)

    def add_addresses(self, article_id: int, record: ArticleRecord) -> None:
        for url in record.addresses():
            self.urls.setdefault(url, article_id)  # the first claim of an address wins


def _insert_articles(session: Session, records: list[ArticleRecord]) -> dict[str, int]:
    """Insert new articles in one statement: url -> id. Raises :class:`_Conflict` when a
    unique constraint refused one (another writer stored it since the look-up)."""
    if not records:
        return {}
    statement = _article_insert(session.get_bind().dialect.name)
    rows = session.execute(statement, [_article_row(r) for r in records])
    ids = {url: article_id for article_id, url in rows}
    if len(ids) != len(records):
        raise _Conflict
    return ids


def _save(session: Session, record: ArticleRecord, near_threshold: float | None) -> SaveResult:
    match = _find_copy(session, record, near_threshold)
    if match is not None:
        _add_addresses(session, match, record)
        return match
    inserted = insert_ignore(session, Article, [_article_row(record)], None, returning="id")
    if not inserted:
        # Another writer stored the same URL or text since we looked: it wins.
        winner = _find_copy(session, record, None)
        if winner is None:  # pragma: no cover - a unique constraint fired, so a row exists
            raise RuntimeError(f"insert of {record.url} conflicted but no row was found")
        _add_addresses(session, winner, record)
        return winner
    result = SaveResult("new", inserted[0])
    insert_ignore(session, ArticleUrl, _address_rows(result, record), ["url"])
    insert_ignore(session, ArticleKey, _key_rows(result.article_id, record), ["kind", "key"])
    insert_ignore(session, NearKey, _near_rows(result.article_id, record), ["key", "article_id"])
    return result


# One fixed statement per lookup: SQLAlchemy then reuses the compiled SQL instead of building
# and hashing a new statement per article (these lookups were the crawler's largest cost).
_EXACT_COPY = text(
    "SELECT 0 AS rank, article_id FROM article_urls WHERE url IN :urls"
    " UNION ALL SELECT 1, article_id FROM article_keys WHERE kind = 'guid' AND key = :guid"
    " UNION ALL SELECT 2, article_id FROM article_keys WHERE kind = 'url_id' AND key = :url_id"
    " UNION ALL SELECT 3, id FROM articles WHERE content_hash = :content_hash"
    " ORDER BY rank LIMIT 1"
).bindparams(bindparam("urls", expanding=True))
_NEAR_CANDIDATE_IDS = text(
    "SELECT article_id, count(*) AS shared FROM article_near_keys WHERE key IN :bands"
    " GROUP BY article_id ORDER BY shared DESC, article_id LIMIT :limit"
).bindparams(bindparam("bands", expanding=True))
_TEXT_OF = text("SELECT text FROM articles WHERE id = :id")
_URLS_OF = text("SELECT url, article_id FROM article_urls WHERE url IN :urls").bindparams(
    bindparam("urls", expanding=True)
)
_KEYS_OF = text(
    "SELECT key, article_id FROM article_keys WHERE kind = :kind AND key IN :keys"
).bindparams(bindparam("keys", expanding=True))
_HASHES_OF = text("SELECT content_hash, id FROM articles WHERE content_hash IN :hashes").bindparams(
    bindparam("hashes", expanding=True)
)
_BANDS_OF = text("SELECT key, article_id FROM article_near_keys WHERE key IN :bands").bindparams(
    bindparam("bands", expanding=True)
)
_TEXTS_OF = text("SELECT id, text FROM articles WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)
_KEY_OUTCOMES: dict[str, SaveOutcome] = {"guid": "duplicate_guid", "url_id": "duplicate_url_id"}
_EXACT_KINDS: dict[int, SaveOutcome] = {
    0: "duplicate_url",
    1: "duplicate_guid",
    2: "duplicate_url_id",
    3: "duplicate_content",
}


def _find_copy(
    session: Session, record: ArticleRecord, near_threshold: float | None
) -> SaveResult | None:
    """The stored article ``record`` is a copy of, by the first kind of match that holds.

    The exact kinds are asked in one query (a UNION ALL ranked by kind): one round trip per
    article instead of four.
    """
    keys = dict(record.identity_keys())
    match = session.execute(
        _EXACT_COPY,
        {
            "urls": record.addresses(),
            "guid": keys.get("guid"),  # NULL matches nothing
            "url_id": keys.get("url_id"),
            "content_hash": record.content_hash,
        },
    ).first()
    if match is not None:
        return SaveResult(_EXACT_KINDS[match.rank], match.article_id)
    if near_threshold is not None and record.near is not None:
        return _near_copy(session, record.near, near_threshold)
    return None


def _near_copy(session: Session, near: NearProbe, threshold: float) -> SaveResult | None:
    """The most similar stored article sharing an LSH band, if similar enough."""
    candidates = session.execute(
        _NEAR_CANDIDATE_IDS, {"bands": sorted(set(near.bands)), "limit": _NEAR_CANDIDATES}
    ).all()
    return _most_similar(
        near,
        ((a, session.execute(_TEXT_OF, {"id": a}).scalar()) for a, _ in candidates),
        threshold,
    )


def _most_similar(
    near: NearProbe, candidates: Iterable[tuple[int, str | None]], threshold: float
) -> SaveResult | None:
    """Of (article id, text) candidates, the most similar to ``near``, if similar enough;
    the first of equals wins."""
    best: SaveResult | None = None
    for article_id, stored_text in candidates:
        similarity = near.similarity(stored_text or "")
        if similarity >= threshold and (best is None or similarity > (best.similarity or 0)):
            best = SaveResult("duplicate_near", article_id, round(similarity, 4))
    return best


def _article_row(record: ArticleRecord) -> dict[str, Any]:
    return {
        "source_id": record.source_id,
        "feed_id": record.feed_id,
        "run_id": record.run_id,
        "url": record.url,
        "original_url": record.original_url,
        "page_canonical_url": record.page_canonical_url,
        "guid": record.guid,
        "title": record.title,
        "author": record.author,
        "language": record.language,
        "published_at": record.published_at,
        "fetched_at": record.fetched_at,
        "text": record.text,
        "html": record.html,
        "content_hash": record.content_hash,
    }


def _add_addresses(session: Session, match: SaveResult, record: ArticleRecord) -> None:
    insert_ignore(session, ArticleUrl, _address_rows(match, record), ["url"])


def _address_rows(result: SaveResult, record: ArticleRecord) -> list[dict[str, Any]]:
    """``article_urls`` rows for ``record``'s addresses: a new article's own URL and page
    canonical, or a copy's addresses with the kind (and similarity) of its match."""
    return [
        {
            "article_id": result.article_id,
            "url": url,
            "kind": (
                ("canonical" if url == record.url else "page_canonical")
                if result.outcome == "new"
                else result.outcome
            ),
            "source_id": record.source_id,
            "seen_at": record.fetched_at,
            "similarity": result.similarity,
        }
        for url in record.addresses()
    ]


def _key_rows(article_id: int, record: ArticleRecord) -> list[dict[str, Any]]:
    """``article_keys`` rows of a new article: its feed GUID and URL id."""
    return [{"article_id": article_id, "kind": k, "key": v} for k, v in record.identity_keys()]


def _near_rows(article_id: int, record: ArticleRecord) -> list[dict[str, Any]]:
    """``article_near_keys`` rows of a new article: its LSH band keys."""
    if record.near is None:
        return []
    return [{"key": key, "article_id": article_id} for key in set(record.near.bands)]


@lru_cache(maxsize=4)
def _article_insert(dialect: str) -> Any:
    """INSERT INTO articles ... ON CONFLICT DO NOTHING RETURNING id, url (built once)."""
    table: Table = Article.__table__  # type: ignore[assignment]
    return insert_statement(dialect, table, (), None).returning(table.c.id, table.c.url)
