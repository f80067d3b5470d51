"""Tombstones: the dedup keys of the articles retention deleted (``storage.retention``), so
that a story coming back is still counted as a duplicate instead of being stored again, until
its keys expire (``storage.keep_dedup_keys``).

A tombstone keeps every key an article was recognised by (``models.TombstoneKey``): each
address it had (its copies' too), its source's feed GUID and URL id, its text hash and its
near-duplicate band keys. Its title, text and HTML are gone.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text
from sqlalchemy.orm import Session

from storage.db import Database
from storage.dedup import GoneCandidates
from storage.models import Article, ArticleKey, ArticleTombstone, ArticleUrl, TombstoneKey
from storage.near_index import bands_of_articles
from storage.statements import chunks, insert_ignore

# key, tombstone id, deleted article id
_GONE_OF = text(
    "SELECT k.key, k.tombstone_id, t.article_id FROM tombstone_keys k "
    "JOIN article_tombstones t ON t.id = k.tombstone_id WHERE k.kind = :kind AND k.key IN :keys"
).bindparams(bindparam("keys", expanding=True))


def _gone(session: Session, kind: str, keys: Iterable[str]) -> list[tuple[str, int, int]]:
    """(key, tombstone id, deleted article id) of the tombstones holding ``keys`` of ``kind``."""
    found: list[tuple[str, int, int]] = []
    for chunk in chunks(sorted(set(keys))):
        found += [tuple(row) for row in session.execute(_GONE_OF, {"kind": kind, "keys": chunk})]
    return found


def buried_entries(
    db: Database, urls: Iterable[str], keyed: dict[tuple[str, str], str]
) -> set[str]:
    """Of feed entries (canonical ``urls``, and their ``(kind, key)`` identities -> URL), the
    URLs a tombstone knows: an old story still listed, or listed again, is not fetched."""
    with db.reading() as session:
        known = {key for key, _, _ in _gone(session, "url", urls)}
        for kind in ("guid", "url_id"):
            wanted = [key for k, key in keyed if k == kind]
            known |= {keyed[kind, key] for key, _, _ in _gone(session, kind, wanted)}
    return known


def buried_candidates(
    session: Session,
    urls: Sequence[str],
    keys: Sequence[tuple[str, str]],
    hashes: Sequence[str],
    bands: Sequence[int],
) -> GoneCandidates:
    """The tombstones a batch's records could match (``storage.articles._lookup``'s second
    half), by tombstone id."""
    found = GoneCandidates()
    for key, tombstone, article in _gone(session, "url", urls):
        found.urls[key] = tombstone
        found.articles[tombstone] = article
    for kind in ("guid", "url_id"):
        for key, tombstone, article in _gone(session, kind, [k for c, k in keys if c == kind]):
            found.keys[kind, key] = tombstone
            found.articles[tombstone] = article
    for key, tombstone, article in _gone(session, "content", hashes):
        found.hashes[key] = tombstone
        found.articles[tombstone] = article
    for key, tombstone, article in _gone(session, "near", [str(b) for b in bands]):
        found.bands.setdefault(int(key), []).append(tombstone)
        found.articles[tombstone] = article
    return found


def new_addresses(tombstone: int, urls: Iterable[str]) -> list[dict[str, Any]]:
    """``tombstone_keys`` rows for addresses a returning story was seen under: the next
    crawl skips them without a fetch, as it skips a stored article's copies."""
    return [{"kind": "url", "key": url, "tombstone_id": tombstone} for url in urls]


def bury(session: Session, ids: Sequence[int], now: datetime) -> None:
    """Write the tombstones of articles ``ids`` (about to be deleted, in this transaction)."""
    articles = session.execute(
        select(Article.id, Article.url, Article.fetched_at, Article.content_hash).where(
            Article.id.in_(ids)
        )
    ).all()
    rows = [
        {"article_id": a.id, "url": a.url, "fetched_at": a.fetched_at, "deleted_at": now}
        for a in articles
    ]
    statement = insert(ArticleTombstone).returning(
        ArticleTombstone.article_id, ArticleTombstone.id, sort_by_parameter_order=True
    )
    tombstones = {article: tombstone for article, tombstone in session.execute(statement, rows)}
    keys = [("content", a.content_hash, a.id) for a in articles]
    keys += [
        ("url", url, article)
        for article, url in session.execute(
            select(ArticleUrl.article_id, ArticleUrl.url).where(ArticleUrl.article_id.in_(ids))
        )
    ]
    keys += [
        (kind, key, article)
        for article, kind, key in session.execute(
            select(ArticleKey.article_id, ArticleKey.kind, ArticleKey.key).where(
                ArticleKey.article_id.in_(ids)
            )
        )
    ]
    keys += [("near", str(band), article) for article, band in bands_of_articles(session, ids)]
    key_rows = [{"kind": k, "key": v, "tombstone_id": tombstones[a]} for k, v, a in keys]
    insert_ignore(session, TombstoneKey, key_rows, ["kind", "key", "tombstone_id"])


def expire(session: Session, before: datetime, limit: int, *, dry_run: bool = False) -> int:
    """Delete up to ``limit`` tombstones of articles deleted before ``before``, with their
    keys; how many (``dry_run``: how many in all would be, deleting nothing)."""
    old = select(ArticleTombstone.id).where(ArticleTombstone.deleted_at < before)
    if dry_run:
        return session.scalar(select(func.count()).select_from(old.subquery())) or 0
    ids = list(session.scalars(old.order_by(ArticleTombstone.id).limit(limit)))
    if ids:
        # Explicitly, not through the foreign key's cascade: the same on a connection whose
        # foreign keys are off.
        session.execute(
            delete(TombstoneKey).where(TombstoneKey.tombstone_id.in_(ids)),
            execution_options={"synchronize_session": False},
        )
        session.execute(
            delete(ArticleTombstone).where(ArticleTombstone.id.in_(ids)),
            execution_options={"synchronize_session": False},
        )
    return len(ids)
