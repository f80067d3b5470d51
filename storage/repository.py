"""The queries newsrelay runs: sources and feeds, saving articles with dedup, crawl runs.

Dedup is decided here, in the transaction that writes the article (or its batch), and the
database's unique
constraints (``articles.url``, ``articles.content_hash``, ``article_urls.url``) are the last
word: two crawls writing the same story at once store it once.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal, Protocol

from sqlalchemy import Table, bindparam, func, select, text, update
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import (
    Article,
    ArticleKey,
    ArticleUrl,
    CrawlRun,
    Feed,
    NearKey,
    Source,
    utcnow,
)

SaveOutcome = Literal[
    "new",
    "duplicate_url",
    "duplicate_guid",
    "duplicate_url_id",
    "duplicate_content",
    "duplicate_near",
]
_CHUNK = 500
_NEAR_CANDIDATES = 10


class NearProbe(Protocol):
    """An article's near-duplicate keys (see crawler.fingerprints.NearKeys)."""

    @property
    def bands(self) -> tuple[int, ...]: ...

    def similarity(self, other_text: str) -> float: ...


@dataclass(frozen=True)
class SourceIds:
    source_id: int
    feed_ids: dict[str, int]


@dataclass(frozen=True)
class FeedState:
    """What was learnt about a feed on the last fetch."""

    etag: str | None = None
    last_modified: str | None = None
    next_poll_after: datetime | None = None


@dataclass(frozen=True)
class SourceHealth:
    consecutive_failures: int = 0
    backoff_until: datetime | None = None


@dataclass(frozen=True)
class ArticleRecord:
    """An extracted article on its way into the database. URLs are canonical."""

    source_id: int
    url: str
    original_url: str
    title: str
    text: str
    html: str
    content_hash: str
    fetched_at: datetime
    page_canonical_url: str | None = None
    guid: str | None = None
    feed_id: int | None = None
    run_id: int | None = None
    author: str | None = None
    language: str | None = None
    published_at: datetime | None = None
    url_id: str | None = None  # the id captured by the source's url_id_pattern
    near: NearProbe | None = None

    def addresses(self) -> list[str]:
        """The canonical addresses of this copy, its own URL first."""
        urls = [self.url]
        if self.page_canonical_url and self.page_canonical_url != self.url:
            urls.append(self.page_canonical_url)
        return urls

    def identity_keys(self) -> list[tuple[str, str]]:
        """(kind, key) identities that hold within the source: feed GUID, URL id."""
        keys = []
        if self.guid:
            keys.append(("guid", f"{self.source_id}:{self.guid}"))
        if self.url_id:
            keys.append(("url_id", f"{self.source_id}:{self.url_id}"))
        return keys


@dataclass(frozen=True)
class SaveResult:
    outcome: SaveOutcome
    article_id: int
    similarity: float | None = None


@dataclass
class RunCounters:
    feeds_fetched: int = 0
    feeds_failed: int = 0
    entries_seen: int = 0
    known_skipped: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    new: int = 0
    duplicates_url: int = 0
    duplicates_guid: int = 0
    duplicates_url_id: int = 0
    duplicates_content: int = 0
    duplicates_near: int = 0
    feeds_not_modified: int = 0
    feeds_not_due: int = 0
    pages_extracted: int = 0  # pages that reached extraction
    pages_thin: int = 0  # ... whose own body was empty or tiny (a redesign looks like this)

    @property
    def duplicates(self) -> int:
        return (
            self.duplicates_url
            + self.duplicates_guid
            + self.duplicates_url_id
            + self.duplicates_content
            + self.duplicates_near
        )

    def count(self, outcome: SaveOutcome) -> None:
        if outcome == "new":
            self.new += 1
        else:
            field_name = "duplicates_" + outcome.removeprefix("duplicate_")
            setattr(self, field_name, getattr(self, field_name) + 1)


@dataclass(frozen=True)
class StoredArticle:
    """An article as exported: the row plus every address it is known by."""

    id: int
    source: str
    url: str
    urls: list[str]
    original_url: str
    page_canonical_url: str | None
    guid: str | None
    title: str
    author: str | None
    language: str | None
    published_at: datetime | None
    fetched_at: datetime
    text: str
    html: str
    content_hash: str
    # Later copies: {"url", "kind", "similarity"} (similarity only for near-duplicates).
    duplicates: list[dict[str, Any]] = field(default_factory=list)


# -- sources and feeds ----------------------------------------------------------------------
def ensure_source(db: Database, name: str, feed_urls: Sequence[str]) -> SourceIds:
    """Create the source and its feeds if missing; return their ids."""
    with db.transaction() as session:
        _insert_ignore(session, Source, [{"name": name, "created_at": utcnow()}], ["name"])
        source_id = session.scalars(select(Source.id).where(Source.name == name)).one()
        rows = [{"source_id": source_id, "url": url} for url in feed_urls]
        if rows:
            _insert_ignore(session, Feed, rows, ["source_id", "url"])
        feeds = session.execute(select(Feed.url, Feed.id).where(Feed.source_id == source_id)).all()
    return SourceIds(source_id, {url: feed_id for url, feed_id in feeds})


def feed_states(db: Database, feed_ids: Iterable[int]) -> dict[int, FeedState]:
    """The stored HTTP validators and next-poll bounds of the given feeds."""
    with db.reading() as session:
        rows = session.execute(
            select(Feed.id, Feed.etag, Feed.last_modified, Feed.next_poll_after).where(
                Feed.id.in_(list(feed_ids))
            )
        ).all()
    return {row.id: FeedState(row.etag, row.last_modified, row.next_poll_after) for row in rows}


def unvalidated_feeds(db: Database, sources: Iterable[tuple[str, Sequence[str]]]) -> int:
    """How many of these (source name, feed URLs) feeds have no stored ETag or
    Last-Modified: never fetched, or never answering a conditional GET. Polling them
    certainly brings a body to parse."""
    wanted = {(name, url) for name, urls in sources for url in urls}
    if not wanted:
        return 0
    with db.reading() as session:
        validated = session.execute(
            select(Source.name, Feed.url)
            .join(Source, Source.id == Feed.source_id)
            .where(Source.name.in_(sorted({name for name, _ in wanted})))
            .where((Feed.etag.is_not(None)) | (Feed.last_modified.is_not(None)))
        ).all()
    return len(wanted - {(row.name, row.url) for row in validated})


_KEEP = object()


def record_feed_fetch(
    db: Database,
    feed_id: int,
    *,
    status: int | None,
    error: str | None = None,
    validators: FeedState | None = None,
    next_poll_after: datetime | object | None = _KEEP,
) -> None:
    """Remember the outcome of one feed fetch (and its validators after a 200)."""
    values: dict[str, Any] = {
        "last_status": status,
        "last_error": error,
        "last_fetched_at": utcnow(),
    }
    if validators is not None:
        values["etag"] = validators.etag
        values["last_modified"] = validators.last_modified
    if next_poll_after is not _KEEP:
        values["next_poll_after"] = next_poll_after
    with db.transaction() as session:
        session.execute(update(Feed).where(Feed.id == feed_id).values(**values))


def forget_validators(db: Database, feed_ids: Iterable[int]) -> None:
    """Make the next poll of these feeds unconditional (some of their pages must be retried)."""
    ids = sorted(set(feed_ids))
    if ids:
        with db.transaction() as session:
            session.execute(
                update(Feed).where(Feed.id.in_(ids)).values(etag=None, last_modified=None)
            )


def backoff_until(db: Database, name: str) -> datetime | None:
    """When the named source may be tried again by a scheduled run (None: now, or unknown)."""
    with db.reading() as session:
        return session.scalar(select(Source.backoff_until).where(Source.name == name))


def source_health(db: Database, source_id: int) -> SourceHealth:
    with db.reading() as session:
        row = session.execute(
            select(Source.consecutive_failures, Source.backoff_until).where(Source.id == source_id)
        ).one()
    return SourceHealth(row.consecutive_failures, row.backoff_until)


def set_source_health(db: Database, source_id: int, health: SourceHealth) -> None:
    with db.transaction() as session:
        session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(
                consecutive_failures=health.consecutive_failures,
                backoff_until=health.backoff_until,
            )
        )


# -- articles -------------------------------------------------------------------------------
def known_urls(db: Database, urls: Iterable[str]) -> set[str]:
    """The subset of ``urls`` (canonical) already stored as an address of some article."""
    wanted = sorted(set(urls))
    found: set[str] = set()
    with db.reading() as session:
        for chunk in _chunks(wanted):
            found.update(session.scalars(select(ArticleUrl.url).where(ArticleUrl.url.in_(chunk))))
    return found


def known_keys(db: Database, kind: str, keys: Iterable[str]) -> dict[str, int]:
    """Which of ``keys`` (``source_id:value``) of ``kind`` are stored: key -> article id."""
    wanted = sorted(set(keys))
    found: dict[str, int] = {}
    with db.reading() as session:
        for chunk in _chunks(wanted):
            rows = session.execute(
                select(ArticleKey.key, ArticleKey.article_id).where(
                    ArticleKey.kind == kind, ArticleKey.key.in_(chunk)
                )
            )
            found.update({key: article_id for key, article_id in rows})
    return found


def add_aliases(db: Database, source_id: int, aliases: Sequence[tuple[int, str, str]]) -> None:
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
        _insert_ignore(session, ArticleUrl, rows, ["url"])


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
    _insert_ignore(session, ArticleUrl, url_rows, ["url"])
    _insert_ignore(session, ArticleKey, key_rows, ["kind", "key"])
    _insert_ignore(session, NearKey, near_rows, ["key", "article_id"])
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
        for chunk in _chunks(urls):
            found.urls.update(session.execute(_URLS_OF, {"urls": chunk}).all())
        for kind in ("guid", "url_id"):
            for chunk in _chunks([key for k, key in keys if k == kind]):
                rows = session.execute(_KEYS_OF, {"kind": kind, "keys": chunk})
                found.keys.update(((kind, key), article_id) for key, article_id in rows)
        for chunk in _chunks(hashes):
            found.hashes.update(session.execute(_HASHES_OF, {"hashes": chunk}).all())
        for chunk in _chunks(bands):
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


def _chunks(values: list[Any]) -> Iterator[list[Any]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start : start + _CHUNK]


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
    inserted = _insert_ignore(session, Article, [_article_row(record)], None, returning="id")
    if not inserted:
        # Another writer stored the same URL or text since we looked: it wins.
        winner = _find_copy(session, record, None)
        if winner is None:  # pragma: no cover - a unique constraint fired, so a row exists
            raise RuntimeError(f"insert of {record.url} conflicted but no row was found")
        _add_addresses(session, winner, record)
        return winner
    result = SaveResult("new", inserted[0])
    _insert_ignore(session, ArticleUrl, _address_rows(result, record), ["url"])
    _insert_ignore(session, ArticleKey, _key_rows(result.article_id, record), ["kind", "key"])
    _insert_ignore(session, NearKey, _near_rows(result.article_id, record), ["key", "article_id"])
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
    _insert_ignore(session, ArticleUrl, _address_rows(match, record), ["url"])


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


def _insert_ignore(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    conflict_columns: list[str] | None,
    returning: str | None = None,
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING; return the ``returning`` column of inserted rows.

    A Core statement on the table, executed with the rows as parameters: compiled once and
    cached, where an ORM multi-VALUES insert was compiled anew for every article (it was
    the single largest CPU cost of a crawl).
    """
    if not rows:
        return []
    # Sorted keys keep lock order stable across writers (PostgreSQL deadlocks otherwise).
    if conflict_columns:
        rows = sorted(rows, key=lambda r: tuple(str(r[c]) for c in conflict_columns))
    dialect = session.get_bind().dialect.name
    statement = _insert_statement(
        dialect, model.__table__, tuple(conflict_columns or ()), returning
    )
    if returning is None:
        session.execute(statement, rows)
        return []
    if len(rows) == 1:
        return list(session.scalars(statement, rows[0]))
    return list(session.scalars(statement, rows))


@lru_cache(maxsize=64)
def _insert_statement(
    dialect: str, table: Table, conflict_columns: tuple[str, ...], returning: str | None
) -> Any:
    """Built once per shape: reusing the statement object spares SQLAlchemy its cache-key walk."""
    # Imported here: a SQLite user's process need not load the PostgreSQL dialects.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module
    else:
        from sqlalchemy.dialects import sqlite as module  # type: ignore[no-redef]
    statement = module.insert(table).on_conflict_do_nothing(
        index_elements=list(conflict_columns) or None
    )
    return statement.returning(table.c[returning]) if returning else statement


@lru_cache(maxsize=4)
def _article_insert(dialect: str) -> Any:
    """INSERT INTO articles ... ON CONFLICT DO NOTHING RETURNING id, url (built once)."""
    table: Table = Article.__table__  # type: ignore[assignment]
    return _insert_statement(dialect, table, (), None).returning(table.c.id, table.c.url)


# -- crawl runs -----------------------------------------------------------------------------
def start_run(db: Database, source_id: int) -> int:
    """Open a ``crawl_runs`` row in state ``running``, owned by this process."""
    with db.transaction() as session:
        run = CrawlRun(
            source_id=source_id,
            started_at=utcnow(),
            status="running",
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        session.add(run)
        session.flush()
        return run.id


def finish_run(
    db: Database, run_id: int, status: str, counters: RunCounters, error: str | None = None
) -> None:
    """Close a run with its counters and final status (ok, failed, interrupted)."""
    values = {**vars(counters), "status": status, "error": error, "finished_at": utcnow()}
    with db.transaction() as session:
        session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(**values))


def get_run(db: Database, run_id: int) -> CrawlRun | None:
    with db.reading() as session:
        return session.get(CrawlRun, run_id)


# -- reading --------------------------------------------------------------------------------
@dataclass(frozen=True)
class Selection:
    """Which articles an export takes."""

    source: str | None = None
    since: datetime | None = None  # fetched at or after
    unpublished: bool = False  # not yet handed out by --mark-published

    def where(self, query: Any) -> Any:
        if self.source is not None:
            query = query.where(Source.name == self.source)
        if self.since is not None:
            query = query.where(Article.fetched_at >= self.since)
        if self.unpublished:
            query = query.where(Article.marked_published_at.is_(None))
        return query


def iter_articles(db: Database, selection: Selection | None = None) -> Iterator[StoredArticle]:
    """The selected articles, oldest first, with all their addresses; streamed in batches."""
    query = (selection or Selection()).where(
        select(Article, Source.name).join(Source, Source.id == Article.source_id)
    )
    with db.reading() as session:
        result = session.execute(query.order_by(Article.id).execution_options(yield_per=200))
        for batch in result.partitions():
            yield from _stored(session, list(batch))


@contextmanager
def publishing(db: Database, selection: Selection) -> Iterator[list[StoredArticle]]:
    """Mark the selected unpublished articles as published and hand them over.

    The marking and the read are one transaction, committed only when the caller's block
    succeeds: two exports never hand out one article twice (the second waits for the
    first's row locks, then finds them marked), and an export whose output could not be
    written marks nothing.
    """
    chosen = Selection(selection.source, selection.since, unpublished=True).where(
        select(Article.id).join(Source, Source.id == Article.source_id)
    )
    with db.transaction() as session:
        marked = session.scalars(
            update(Article)
            .where(Article.id.in_(chosen.scalar_subquery()))
            .where(Article.marked_published_at.is_(None))
            .values(marked_published_at=utcnow())
            .returning(Article.id)
        ).all()
        articles: list[StoredArticle] = []
        ids = sorted(marked)
        for chunk in _chunks(ids):
            rows = session.execute(
                select(Article, Source.name)
                .join(Source, Source.id == Article.source_id)
                .where(Article.id.in_(chunk))
                .order_by(Article.id)
            ).all()
            articles.extend(_stored(session, [tuple(row) for row in rows]))
        yield articles


def _stored(session: Session, rows: list[Any]) -> Iterator[StoredArticle]:
    aliases = _addresses_of(session, [article.id for article, _ in rows])
    for article, source_name in rows:
        urls = aliases.get(article.id, [])
        yield StoredArticle(
            id=article.id,
            source=source_name,
            url=article.url,
            urls=[u for u, _, _ in urls] or [article.url],
            original_url=article.original_url,
            page_canonical_url=article.page_canonical_url,
            guid=article.guid,
            title=article.title,
            author=article.author,
            language=article.language,
            published_at=article.published_at,
            fetched_at=article.fetched_at,
            text=article.text,
            html=article.html,
            content_hash=article.content_hash,
            duplicates=[
                {"url": u, "kind": k.removeprefix("duplicate_"), "similarity": sim}
                for u, k, sim in urls
                if k.startswith("duplicate_")
            ],
        )


def _addresses_of(
    session: Session, article_ids: list[int]
) -> dict[int, list[tuple[str, str, float | None]]]:
    rows = session.execute(
        select(ArticleUrl.article_id, ArticleUrl.url, ArticleUrl.kind, ArticleUrl.similarity)
        .where(ArticleUrl.article_id.in_(article_ids))
        .order_by(ArticleUrl.id)
    ).all()
    result: dict[int, list[tuple[str, str, float | None]]] = {}
    for article_id, url, kind, similarity in rows:
        result.setdefault(article_id, []).append((url, kind, similarity))
    return result


def count_articles(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0
