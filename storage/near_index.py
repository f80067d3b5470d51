"""The near-duplicate band index: written with new articles, read by dedup, retention and
revisions.

Band keys are hashes, so a batch's keys fall on random pages of the index. In a SQLite
database every page a transaction changes is written out again at its commit (to the WAL,
then to the file): at 100,000 stored articles a batch of 100 new articles changed some
1,600 pages of the index, and saving ran at a third of its speed on an empty database.

So on SQLite a new article's bands go first into ``article_near_keys_recent``, which stays
small (its few pages are changed by every batch anyway), and each batch moves the recent
rows of one or two slices of the key space on into ``article_near_keys``
(:func:`sweep`): rows that waited a whole sweep arrive together, many to a page. A full
sweep passes every :data:`SWEEP_ARTICLES` new articles, so the recent table holds about the
bands of that many articles at most. Look-ups read both tables (two index probes per key);
so do retention and tombstones, by article id (both tables have that index, appended to).

PostgreSQL writes only the changed rows to its log, not whole pages: saving there stayed
flat at 300,000 articles, so there bands go straight into ``article_near_keys`` and the
recent table stays empty.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from sqlalchemy import bindparam, delete, select, text
from sqlalchemy.orm import Session

from storage.models import NearKey, RecentNearKey
from storage.statements import chunks, insert_ignore

# The key space (band keys are 63-bit, non-negative) is swept in this many slices...
SLICES = 64
# ... one full sweep per this many new articles (article ids): a slice per 64 articles. More
# means fewer, fuller index pages per moved row and a bigger recent table.
SWEEP_ARTICLES = 4096
KEY_SPACE = 1 << 63
_LOWEST, _HIGHEST = -(1 << 63), (1 << 63) - 1  # of a BIGINT: the sweep leaves no key out
_TABLES = (NearKey, RecentNearKey)


def staged(session: Session) -> bool:
    """Whether new bands go through the recent table first (SQLite)."""
    return session.get_bind().dialect.name == "sqlite"


def add_bands(session: Session, rows: list[dict[str, Any]], new_ids: Iterable[int]) -> None:
    """Store band ``rows`` (``key``, ``article_id``) of new articles whose ids are
    ``new_ids``; on SQLite into the recent table, then move the slices those ids sweep."""
    if not staged(session):
        insert_ignore(session, NearKey, rows, ["key", "article_id"])
        return
    insert_ignore(session, RecentNearKey, rows, ["key", "article_id"])
    ids = list(new_ids)
    if ids:
        sweep(session, min(ids), max(ids))


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


def slices_swept(first_id: int, last_id: int) -> list[tuple[int, int]]:
    """The key ranges (inclusive) that new article ids ``first_id``..``last_id`` sweep: the
    slices whose turn came between the article before ``first_id`` and ``last_id``."""
    start = (first_id - 1) * SLICES // SWEEP_ARTICLES + 1
    end = last_id * SLICES // SWEEP_ARTICLES
    if end < start:
        return []
    if end - start + 1 >= SLICES:
        return [(_LOWEST, _HIGHEST)]
    low, high = start % SLICES, end % SLICES
    if low <= high:
        return [_keys(low, high + 1)]
    return [_keys(low, SLICES), _keys(0, high + 1)]


def _keys(first_slice: int, end_slice: int) -> tuple[int, int]:
    """The inclusive key range of slices ``first_slice`` up to ``end_slice`` (excluded)."""
    low = _LOWEST if first_slice == 0 else first_slice * KEY_SPACE // SLICES
    high = _HIGHEST if end_slice == SLICES else end_slice * KEY_SPACE // SLICES - 1
    return low, high


def sweep(session: Session, first_id: int, last_id: int) -> None:
    """Move the recent bands of the slices swept by ids ``first_id``..``last_id`` into
    ``article_near_keys`` (SQLite only: one writer at a time, so the two statements are one
    move)."""
    for low, high in slices_swept(first_id, last_id):
        session.execute(_MOVE, {"low": low, "high": high})
        session.execute(_FORGET, {"low": low, "high": high})


def sweep_all(session: Session) -> None:
    """Move every recent band into ``article_near_keys``."""
    if staged(session):
        session.execute(_MOVE, {"low": _LOWEST, "high": _HIGHEST})
        session.execute(_FORGET, {"low": _LOWEST, "high": _HIGHEST})


# Fixed statements, compiled once. A primary-key range on both sides: no scan.
_BANDS_OF = text(
    "SELECT key, article_id FROM article_near_keys WHERE key IN :bands"
    " UNION ALL SELECT key, article_id FROM article_near_keys_recent WHERE key IN :bands"
).bindparams(bindparam("bands", expanding=True))
_MOVE = text(
    "INSERT OR IGNORE INTO article_near_keys (key, article_id)"
    " SELECT key, article_id FROM article_near_keys_recent WHERE key BETWEEN :low AND :high"
)
_FORGET = text("DELETE FROM article_near_keys_recent WHERE key BETWEEN :low AND :high")
