"""Corrections: which stored articles' feed entries moved (so their pages are fetched again),
and a page fetched again saved as a new revision of its article.

A revision replaces the article row's title, text, HTML and dedup keys (content hash,
near-duplicate bands: dedup follows the latest text), keeps the earlier text in
``article_revisions`` with when it was stored, makes the article unpublished again (an
``export --unpublished`` hands it out again) and queues it again for every destination it
was queued for (``storage.deliveries.requeue``). A page whose title and text did not change
costs one write: its entry's updated time, so that the next poll does not fetch it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from storage.db import Database
from storage.dedup import near_rows
from storage.deliveries import requeue
from storage.history_models import ArticleRevision
from storage.models import Article, ArticleUrl
from storage.near_index import replace_bands
from storage.raw_pages import replace_raw_page
from storage.records import ArticleRecord, SaveResult
from storage.statements import chunks

OWN_ADDRESSES = ("canonical", "page_canonical")  # not the addresses of its copies


def revisions_due(
    db: Database, source_id: int, updated: Mapping[str, datetime], since: datetime
) -> dict[str, int]:
    """Of ``updated`` (canonical URL -> its entry's updated time), the URLs of the source's
    own articles first stored at or after ``since`` whose entry moved: URL -> article id."""
    found: dict[str, int] = {}
    with db.reading() as session:
        for chunk in chunks(sorted(updated)):
            rows = session.execute(
                select(ArticleUrl.url, Article.id, Article.entry_updated_at, Article.fetched_at)
                .join(Article, Article.id == ArticleUrl.article_id)
                .where(
                    ArticleUrl.url.in_(chunk),
                    ArticleUrl.kind.in_(OWN_ADDRESSES),
                    Article.source_id == source_id,
                    Article.fetched_at >= since,
                )
            )
            for url, article_id, seen, stored in rows:
                if moved(updated[url], seen, stored):
                    found[url] = article_id
    return found


def moved(updated: datetime, seen: datetime | None, stored: datetime) -> bool:
    """An entry's updated time says its page changed: it is later than the one seen last,
    or, when none was seen, than the article's storing."""
    return updated > (seen or stored)


def save_revisions(session: Session, records: Sequence[ArticleRecord]) -> list[SaveResult]:
    """Each record (its ``revision_of`` set) as a new revision of its article when its title
    or text differs from the stored one, else only its entry's updated time noted."""
    return [_revise(session, record) for record in records]


def _revise(session: Session, record: ArticleRecord) -> SaveResult:
    assert record.revision_of is not None
    article_id = record.revision_of
    stored = session.execute(
        select(Article).where(Article.id == article_id).with_for_update()
    ).scalar_one_or_none()
    if stored is None:  # deleted since the poll: nothing to correct
        return SaveResult("unchanged", article_id)
    # The entry's time as seen now (none for a page extracted again: it keeps the stored one).
    seen = {"entry_updated_at": record.entry_updated_at} if record.entry_updated_at else {}
    if (record.title, record.text) == (stored.title, stored.text) or _text_taken(
        session, record, article_id
    ):
        if seen and stored.entry_updated_at != record.entry_updated_at:
            session.execute(update(Article).where(Article.id == article_id).values(**seen))
        return SaveResult("unchanged", article_id)
    session.execute(insert(ArticleRevision).values(_earlier(stored)))
    session.execute(
        update(Article)
        .where(Article.id == article_id)
        .values(
            title=record.title,
            text=record.text,
            html=record.html,
            content_hash=record.content_hash,
            revision=stored.revision + 1,
            updated_at=record.fetched_at,
            marked_published_at=None,
            **seen,
        )
    )
    replace_bands(session, article_id, near_rows(article_id, record))
    requeue(session, article_id, record.fetched_at)
    if record.raw is not None:
        replace_raw_page(session, article_id, record.raw)
    return SaveResult("revised", article_id)


def _earlier(stored: Article) -> dict[str, Any]:
    """The ``article_revisions`` row keeping the text a revision replaces."""
    return {
        "article_id": stored.id,
        "revision": stored.revision,
        "title": stored.title,
        "text": stored.text,
        "html": stored.html,
        "content_hash": stored.content_hash,
        "stored_at": stored.updated_at or stored.fetched_at,
    }


def _text_taken(session: Session, record: ArticleRecord, article_id: int) -> bool:
    """The new text is another stored article's (``content_hash`` is unique): the correction
    made it a copy of that one, and the article keeps its text."""
    other = session.scalar(
        select(Article.id).where(
            Article.content_hash == record.content_hash, Article.id != article_id
        )
    )
    return other is not None


def article_revisions(db: Database, article_id: int) -> list[tuple[int, str, datetime]]:
    """(revision, title, stored at) of an article's earlier revisions, the oldest first."""
    with db.reading() as session:
        rows = session.execute(
            select(ArticleRevision.revision, ArticleRevision.title, ArticleRevision.stored_at)
            .where(ArticleRevision.article_id == article_id)
            .order_by(ArticleRevision.revision)
        ).all()
    return [(revision, title, stored_at) for revision, title, stored_at in rows]
