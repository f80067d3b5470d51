"""The near-duplicate band index: written with new articles, read by dedup, retention and
revisions.

Band keys are hashes, so a batch's keys fall on random pages of the index. In a SQLite
database every page a transaction changes is written out again at its commit (to the WAL,
then to the file): at 100,000 stored articles a batch of 100 new articles changed some
1,600 pages of the index, and saving ran at a third of its speed on an empty database.

So on SQLite a new article's bands go first into ``article_near_keys_recent``, which stays
small (a batch changes its few pages, not hundreds of the big index's), and every
:data:`MERGE_ARTICLES` new articles (when a batch's ids pass a multiple of it) all of it
moves into ``article_near_keys`` at once (:func:`merge`): the keys of thousands of articles
reach each page of the index together, and the article-id index of both tables is only
appended to (the moved articles are the newest) and emptied. Look-ups read both tables (two
index probes per key); so do retention and tombstones, by article id.

PostgreSQL writes only the changed rows to its log, not whole pages, so there bands go
straight into ``article_near_keys`` and the recent table stays empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.orm import Session

from storage.models import NearKey, RecentNearKey
from storage.statements import chunks, insert_ignore

# New articles per move of the recent bands into the index. More: fewer moves, each page of
# the index taking more keys at once, but a bigger recent table for every batch to change.
MERGE_ARTICLES = 4096
_TABLES = (NearKey, RecentNearKey)


def staged(session: Session) -> bool:
    """Whether new bands go through the recent table first (SQLite)."""
    return session.get_bind().dialect.name == "sqlite"


def add_bands(session: Session, rows: list[dict[str, Any]], new_ids: Iterable[int]) -> None:
    """Store band ``rows`` (``key``, ``article_id``) of new articles whose ids are
    ``new_ids``; on SQLite into the recent table, merged when the ids pass a multiple of
    :data:`MERGE_ARTICLES`."""
    if not staged(session):
        insert_ignore(session, NearKey, rows, ["key", "article_id"])
        return
    insert_ignore(session, RecentNearKey, rows, ["key", "article_id"])
    ids = list(new_ids)
    if ids and merge_due(min(ids), max(ids)):
        merge(session)


def merge_due(first_id: int, last_id: int) -> bool:
    """Whether new article ids ``first_id``..``last_id`` pass a multiple of
    :data:`MERGE_ARTICLES` (ids skipped by another writer only delay a merge)."""
    return (first_id - 1) // MERGE_ARTICLES != last_id // MERGE_ARTICLES


def replace_bands(session: Session, article_id: int, rows: list[dict[str, Any]]) -> None:
    """An article's bands, new for its corrected text (``storage.revisions``)."""
    delete_bands(session, [article_id])
    model = RecentNearKey if staged(session) else NearKey
    insert_ignore(session, model, rows, ["key", "article_id"])


def delete_bands(session: Session, article_ids: Sequence[int]) -> None:
    """Delete the bands of ``article_ids`` from both tables (by their article_id index)."""
    for model in _TABLES:
        session.execute(
            delete(model).where(model.article_id.in_(article_ids)),
            execution_options={"synchronize_session": False},
        )


def bands_of_articles(session: Session, article_ids: Sequence[int]) -> Iterator[tuple[int, int]]:
    """(article id, band key) of ``article_ids``, from both tables."""
    for model in _TABLES:
        for chunk in chunks(sorted(article_ids)):
            query = select(model.article_id, model.key).where(model.article_id.in_(chunk))
            yield from session.execute(query)


def articles_with_bands(session: Session, keys: Sequence[int]) -> Iterator[tuple[int, int]]:
    """(band key, article id) of every stored article having one of ``keys``."""
    for chunk in chunks(sorted(set(keys))):
        yield from session.execute(_BANDS_OF, {"bands": chunk})


def merge(session: Session) -> None:
    """Move every recent band into ``article_near_keys``, in key order (SQLite: one writer
    at a time, so the two statements are one move; PostgreSQL's recent table is empty)."""
    if staged(session):
        session.execute(_MOVE)
        session.execute(_FORGET)


# Fixed statements, compiled once.
_BANDS_OF = text(
    "SELECT key, article_id FROM article_near_keys WHERE key IN :bands"
    " UNION ALL SELECT key, article_id FROM article_near_keys_recent WHERE key IN :bands"
).bindparams(bindparam("bands", expanding=True))
_MOVE = text(
    "INSERT OR IGNORE INTO article_near_keys (key, article_id)"
    " SELECT key, article_id FROM article_near_keys_recent ORDER BY key, article_id"
)
_FORGET = text("DELETE FROM article_near_keys_recent")
