"""Articles: which feed entries are already known, and the one save path (dedup decided in
the transaction that writes the article or its batch).

The database's unique constraints (``articles.url``, ``articles.content_hash``,
``article_urls.url``) are the last word: two crawls writing the same story at once store it
once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, bindparam, select, text
from sqlalchemy.orm import Session

from storage.cluster_locks import serialise_near_duplicates
from storage.db import Database
from storage.dedup import Decision, StoredCandidates, decide, near_rows
from storage.deliveries import delivery_rows
from storage.filtered import filtered_urls
from storage.history_models import RawPage
from storage.models import Article, ArticleKey, ArticleUrl, Delivery, TombstoneKey, utcnow
from storage.near_index import add_bands, articles_with_bands
from storage.raw_pages import raw_page_row
from storage.records import ArticleRecord, EntryIdentity, SaveResult
from storage.revisions import save_revisions
from storage.statements import chunks, insert_ignore, insert_statement
from storage.templates import count_paragraphs
from storage.tombstones import buried_candidates, buried_entries, new_addresses


def known_entries(
    db: Database, source_id: int, entries: Sequence[EntryIdentity], rules: str = ""
) -> set[str]:
    """The URLs of ``entries`` already stored, or dropped by a filter of the source under its
    current ``rules`` (their key), so not to be fetched again.

    An entry is known by its address, or within its source by its feed GUID or URL id; an
    entry known only by the latter is a new address of a stored story, recorded here as its
    alias (``article_urls`` kind ``duplicate_guid`` / ``duplicate_url_id``) without a fetch.
    An entry a deleted article's tombstone knows (``storage.tombstones``) is known too.
    """
    by_url = {entry.url: entry for entry in entries}
    known = _known_urls(db, by_url) | filtered_urls(db, source_id, by_url, rules)
    guids = {f"{source_id}:{e.guid}": url for url, e in by_url.items() if e.guid}
    ids = {f"{source_id}:{e.url_id}": url for url, e in by_url.items() if e.url_id}
    aliases: dict[str, tuple[int, str, str]] = {}
    for kind, keyed in (("guid", guids), ("url_id", ids)):
        for key, article_id in _known_keys(db, kind, keyed).items():
            url = keyed[key]
            if url not in known and url not in aliases:
                aliases[url] = (article_id, url, f"duplicate_{kind}")
    _add_aliases(db, source_id, list(aliases.values()))
    known |= set(aliases)
    identities = {("guid", key): url for key, url in guids.items()}
    identities |= {("url_id", key): url for key, url in ids.items()}
    return known | buried_entries(db, by_url.keys() - known, identities)


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

    def add(session: Session) -> None:
        # Only to articles still stored: retention may have deleted one since the look-up
        # (the entry stays known: its key is in the tombstone now).
        wanted = sorted({article_id for article_id, _, _ in aliases})
        alive = set(session.scalars(select(Article.id).where(Article.id.in_(wanted))))
        insert_ignore(session, ArticleUrl, [r for r in rows if r["article_id"] in alive], ["url"])

    db.retrying(add)


def save_article(
    db: Database, record: ArticleRecord, *, near_threshold: float | None = None
) -> SaveResult:
    """Store ``record`` as a new article, or record its addresses as another copy of a stored
    one: :func:`save_articles` for one record."""
    return save_articles(db, [record], near_threshold=near_threshold)[0]


def save_articles(
    db: Database, records: Sequence[ArticleRecord], *, near_threshold: float | None = None
) -> list[SaveResult]:
    """Save several articles in one transaction (one commit instead of many).

    Dedup is decided by :func:`storage.dedup.decide` (with ``near_threshold``, near-duplicates
    too). Nothing is dropped silently: every address ends up in ``article_urls`` with the kind
    of match (and the similarity, for near-duplicates). Saved in URL order, so concurrent
    writers take row locks in the same order; results come back in the order given.

    A record with ``revision_of`` (a stored article's page fetched again) is no new article:
    it is saved as that article's revision (:func:`storage.revisions.save_revisions`).
    """
    revising = [r for r in records if r.revision_of is not None]
    if not revising:
        return _save_new(db, records, near_threshold)
    fresh = iter(_save_new(db, [r for r in records if r.revision_of is None], near_threshold))
    revised = iter(db.retrying(lambda session: save_revisions(session, revising)))
    return [next(fresh if r.revision_of is None else revised) for r in records]


def _save_new(
    db: Database, records: Sequence[ArticleRecord], near_threshold: float | None
) -> list[SaveResult]:
    """:func:`save_articles` for records that are no revision."""
    if not records:
        return []
    order = sorted(range(len(records)), key=lambda i: records[i].url)
    ordered = [records[i] for i in order]

    def in_order(results: list[SaveResult]) -> list[SaveResult]:
        by_index = dict(zip(order, results, strict=True))
        return [by_index[i] for i in range(len(records))]

    try:
        return in_order(db.retrying(lambda session: _save(session, ordered, near_threshold)))
    except _Conflict:
        # Another writer stored one of these stories between our look-up and our insert
        # (rolled back): decide again article by article, where the loser of a race
        # becomes a duplicate of the winner.
        return in_order(
            db.retrying(lambda session: [_save_one(session, r, near_threshold) for r in ordered])
        )


class _Conflict(Exception):
    """An article insert hit a row another writer had just stored."""


def _save(
    session: Session, records: Sequence[ArticleRecord], near_threshold: float | None
) -> list[SaveResult]:
    """Look up what ``records`` could match (one query per kind), decide, write (one insert
    per table). Raises :class:`_Conflict` when an article insert was refused."""
    if near_threshold is not None:
        serialise_near_duplicates(session)
    stored = _lookup(session, records, near_threshold is not None)
    decisions = decide(records, stored, near_threshold)
    ids = _insert_articles(
        session, [r for r, d in zip(records, decisions, strict=True) if d.outcome == "new"]
    )
    results = [_result(d, r, ids, records) for r, d in zip(records, decisions, strict=True)]
    url_rows: list[dict[str, Any]] = []
    key_rows: list[dict[str, Any]] = []
    band_rows: list[dict[str, Any]] = []
    queued: list[dict[str, Any]] = []
    gone_rows: list[dict[str, Any]] = []
    raw_rows: list[dict[str, Any]] = []
    for result, record in zip(results, records, strict=True):
        if result.tombstone is not None:  # a deleted article's story: its tombstone learns
            gone_rows += new_addresses(result.tombstone, record.addresses())
            continue
        url_rows += _address_rows(result, record)
        if result.outcome == "new":
            key_rows += _key_rows(result.article_id, record)
            band_rows += near_rows(result.article_id, record)
            queued += delivery_rows(result.article_id, record.destinations, record.fetched_at)
            if record.raw is not None:
                raw_rows.append(raw_page_row(result.article_id, record.raw))
    insert_ignore(session, ArticleUrl, url_rows, ["url"])
    insert_ignore(session, ArticleKey, key_rows, ["kind", "key"])
    insert_ignore(session, TombstoneKey, gone_rows, ["kind", "key", "tombstone_id"])
    add_bands(session, band_rows, ids.values())
    insert_ignore(session, Delivery, queued, ["article_id", "destination"])
    # Only new articles: one story at several addresses is not its source's template.
    count_paragraphs(
        session, [r for r, res in zip(records, results, strict=True) if res.outcome == "new"]
    )
    insert_ignore(session, RawPage, raw_rows, ["article_id"])
    return results


def _save_one(session: Session, record: ArticleRecord, near_threshold: float | None) -> SaveResult:
    """A batch of one; when another writer stored the same address or text since the
    look-up, it wins and this record becomes its copy."""
    try:
        return _save(session, [record], near_threshold)[0]
    except _Conflict:
        try:
            return _save(session, [record], None)[0]
        except _Conflict:  # pragma: no cover - a unique constraint fired, so a row exists
            raise RuntimeError(f"insert of {record.url} conflicted but no row was found") from None


def _result(
    decision: Decision,
    record: ArticleRecord,
    ids: dict[str, int],
    batch: Sequence[ArticleRecord],
) -> SaveResult:
    if decision.outcome == "new":
        return SaveResult("new", ids[record.url])
    if decision.copy_of is not None:
        return SaveResult(decision.outcome, ids[batch[decision.copy_of].url], decision.similarity)
    assert decision.article_id is not None
    return SaveResult(
        decision.outcome, decision.article_id, decision.similarity, decision.tombstone
    )


def _lookup(session: Session, records: Sequence[ArticleRecord], near: bool) -> StoredCandidates:
    """The stored rows ``records`` could match: one query per kind, plus the texts of the
    near-duplicate candidates of the records that have no exact match."""
    urls = sorted({url for r in records for url in r.addresses()})
    keys = sorted({key for r in records for key in r.identity_keys()})
    hashes = sorted({r.content_hash for r in records})
    bands = sorted({b for r in records if near and r.near for b in r.near.bands})
    found = StoredCandidates()
    for chunk in chunks(urls):
        found.urls.update(session.execute(_URLS_OF, {"urls": chunk}).all())
    for kind in ("guid", "url_id"):
        for chunk in chunks([key for k, key in keys if k == kind]):
            rows = session.execute(_KEYS_OF, {"kind": kind, "keys": chunk})
            found.keys.update(((kind, key), article_id) for key, article_id in rows)
    for chunk in chunks(hashes):
        found.hashes.update(session.execute(_HASHES_OF, {"hashes": chunk}).all())
    for band, article_id in articles_with_bands(session, bands):
        found.bands.setdefault(band, []).append(article_id)
    if found.bands:
        wanted = {
            article_id
            for r in records
            if r.near is not None and found.exact(r) is None
            for article_id in found.near_candidates(r.near.bands)
        }
        for chunk in chunks(sorted(wanted)):
            found.texts.update(session.execute(_TEXTS_OF, {"ids": chunk}).all())
    found.gone = buried_candidates(session, urls, keys, hashes, bands)
    return found


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


# Fixed statements: SQLAlchemy reuses the compiled SQL instead of building and hashing a new
# statement per batch.
_URLS_OF = text("SELECT url, article_id FROM article_urls WHERE url IN :urls").bindparams(
    bindparam("urls", expanding=True)
)
_KEYS_OF = text(
    "SELECT key, article_id FROM article_keys WHERE kind = :kind AND key IN :keys"
).bindparams(bindparam("keys", expanding=True))
_HASHES_OF = text("SELECT content_hash, id FROM articles WHERE content_hash IN :hashes").bindparams(
    bindparam("hashes", expanding=True)
)
_TEXTS_OF = text("SELECT id, text FROM articles WHERE id IN :ids").bindparams(
    bindparam("ids", expanding=True)
)


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
        "language_source": record.language_source,
        "published_at": record.published_at,
        "fetched_at": record.fetched_at,
        "text": record.text,
        "html": record.html,
        "content_hash": record.content_hash,
        "image": record.image,
        "image_caption": record.image_caption,
        "image_credit": record.image_credit,
        "image_path": record.image_path,
        "entry_updated_at": record.entry_updated_at,
    }


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


@lru_cache(maxsize=4)
def _article_insert(dialect: str) -> Any:
    """INSERT INTO articles ... ON CONFLICT DO NOTHING RETURNING id, url (built once)."""
    table: Table = Article.__table__  # type: ignore[assignment]
    return insert_statement(dialect, table, (), None).returning(table.c.id, table.c.url)
