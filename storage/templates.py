"""Sources' templates: how many of a source's article pages each paragraph fingerprint was
seen on, and when last (``crawler.templates`` decides what is boilerplate).

Counted in the transaction that saves the pages' articles (``storage.articles.save_articles``),
so a page is counted once whatever happens to the crawl; read once per run, at its first page.
A source keeps its ``KEEP_PER_SOURCE`` most recently seen fingerprints, none older than
``KEEP_FOR``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Source, SourceTemplate, utcnow
from storage.records import ArticleRecord, ParagraphSeen

KEEP_PER_SOURCE = 2_000
KEEP_FOR = timedelta(days=30)
_TABLE: Table = SourceTemplate.__table__  # type: ignore[assignment]


def template_paragraphs(db: Database, source_id: int) -> dict[int, ParagraphSeen]:
    """The fingerprints kept for ``source_id``: key -> pages and last sighting."""
    cutoff = utcnow() - KEEP_FOR
    with db.reading() as session:
        rows = session.execute(
            select(_TABLE.c.key, _TABLE.c.pages, _TABLE.c.last_seen)
            .where(_TABLE.c.source_id == source_id, _TABLE.c.last_seen >= cutoff)
            .order_by(_TABLE.c.last_seen.desc(), _TABLE.c.key)
            .limit(KEEP_PER_SOURCE)
        )
        return {key: ParagraphSeen(pages, last_seen) for key, pages, last_seen in rows}


def source_template(db: Database, source_name: str) -> dict[int, ParagraphSeen]:
    """:func:`template_paragraphs` of the source named ``source_name`` (none if unknown)."""
    with db.reading() as session:
        source_id = session.scalar(select(Source.id).where(Source.name == source_name))
    return {} if source_id is None else template_paragraphs(db, source_id)


def count_paragraphs(session: Session, records: Sequence[ArticleRecord]) -> None:
    """Count each record's page in its source's template (one upsert for the batch), then
    forget what its bounds no longer keep. Nothing when no record carries fingerprints."""
    counted: dict[tuple[int, int], dict[str, Any]] = {}
    for record in records:
        for key in record.paragraphs:
            row = counted.setdefault(
                (record.source_id, key),
                {"source_id": record.source_id, "key": key, "pages": 0, "last_seen": None},
            )
            row["pages"] += 1
            row["last_seen"] = max(filter(None, (row["last_seen"], record.fetched_at)))
    if not counted:
        return
    # Sorted: writers take row locks in one order (PostgreSQL deadlocks otherwise).
    session.execute(_upsert(session.get_bind().dialect.name), [counted[k] for k in sorted(counted)])
    for source_id in sorted({source_id for source_id, _ in counted}):
        _forget_old(session, source_id, utcnow())


def _forget_old(session: Session, source_id: int, now: datetime) -> None:
    """Drop ``source_id``'s fingerprints unseen for ``KEEP_FOR``, and all but its
    ``KEEP_PER_SOURCE`` most recent."""
    of_source = _TABLE.c.source_id == source_id
    session.execute(delete(_TABLE).where(of_source, _TABLE.c.last_seen < now - KEEP_FOR))
    beyond = (
        select(_TABLE.c.key)
        .where(of_source)
        .order_by(_TABLE.c.last_seen.desc(), _TABLE.c.key)
        .offset(KEEP_PER_SOURCE)
    )
    session.execute(delete(_TABLE).where(of_source, _TABLE.c.key.in_(beyond.scalar_subquery())))


@lru_cache(maxsize=4)
def _upsert(dialect: str) -> Any:
    """INSERT ... ON CONFLICT (source_id, key) DO UPDATE: pages added, last sighting moved."""
    # Imported here: a SQLite user's process need not load the PostgreSQL dialects.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module
    else:
        from sqlalchemy.dialects import sqlite as module  # type: ignore[no-redef]
    statement = module.insert(_TABLE)
    return statement.on_conflict_do_update(
        index_elements=["source_id", "key"],
        set_={
            "pages": _TABLE.c.pages + statement.excluded.pages,
            "last_seen": statement.excluded.last_seen,
        },
    )
