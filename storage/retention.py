"""Retention: articles older than ``storage.keep_articles`` deleted, one batch per
transaction, each leaving a tombstone of its dedup keys (``storage.tombstones``) in the same
transaction; tombstones older than ``storage.keep_dedup_keys`` then expire.

An article's age is its ``fetched_at``, when it was stored: always set, indexed, on the
machine's clock; ``published_at`` is missing or wrong too often to delete by, and a backfill
of old stories would be deleted as soon as stored.

What goes with an article, in its batch's transaction: its addresses (``article_urls``, its
copies among them), its dedup keys (``article_keys``, ``article_near_keys``) and its
deliveries, each deleted explicitly; its full-text row (SQLite's FTS5 delete trigger fires
per row; on PostgreSQL the search column is the row's own); and the rows of any other table
whose foreign key to ``articles`` cascades (``storage.db`` turns SQLite's foreign keys on).
Once the batch is committed, its kept image files that no remaining article shows.

Batches are small (:data:`BATCH`) and each is its own ``BEGIN IMMEDIATE`` ... ``COMMIT``,
followed on SQLite by a pause: SQLite's other writers wait for one batch at most, and a
killed prune loses only the batch in flight (rolled back, tried again by the next prune).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from storage.db import Database
from storage.history_models import RawPage
from storage.models import Article, ArticleKey, ArticleUrl, Delivery, utcnow
from storage.near_index import delete_bands
from storage.raw_pages import prune_raw_pages
from storage.tombstones import bury, expire

BATCH = 500
# SQLite: the pause after each batch. A writer kept waiting by a batch sleeps in steps of up to
# 100 ms (SQLite's busy handler); with no gap that long, batch after batch took the lock back
# first and a writer waited through its whole busy timeout (measured: none got in).
SQLITE_PAUSE = 0.1
# An unreferenced image file written or reused this recently is left alone: a crawl may have
# kept it for an article it has not saved yet.
IMAGE_GRACE = timedelta(hours=1)
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Retention:
    """How long things are kept (None: for ever), and where the kept images are."""

    keep_articles: timedelta | None
    keep_dedup_keys: timedelta | None
    images: Path | None = None  # [images] directory
    batch: int = BATCH
    keep_raw: timedelta | None = None  # raw pages (storage.keep_raw; None: none are kept)


@dataclass
class PruneReport:
    """What one prune deleted (or, ``dry_run``, would delete)."""

    dry_run: bool = False
    articles: int = 0
    copies: int = 0  # addresses of later copies (article_urls kind duplicate_*)
    deliveries: int = 0
    images: int = 0  # kept image files
    tombstones_expired: int = 0
    raw_pages: int = 0  # kept raw pages past storage.keep_raw
    batches: int = 0  # transactions committed
    stopped: bool = False  # asked to stop before the end
    image_paths: set[str] = field(default_factory=set, repr=False)


def prune(
    db: Database,
    retention: Retention,
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    stop: threading.Event | None = None,
) -> PruneReport:
    """Delete what ``retention`` no longer keeps, batch by batch, and log one summary line;
    ``dry_run``: count it, delete nothing. ``stop`` set: no further batch."""
    now = now or utcnow()
    started = time.monotonic()
    report = _counted(db, retention, now) if dry_run else _pruned(db, retention, now, stop)
    # One line per prune; the counts are its fields (text: key=value, JSON: keys).
    counts = {
        "articles": report.articles,
        "copies": report.copies,
        "deliveries": report.deliveries,
        "images": report.images,
        "tombstones_expired": report.tombstones_expired,
        "raw_pages": report.raw_pages,
        "batches": report.batches,
        "duration_s": round(time.monotonic() - started, 2),
    }
    logger.info("prune%s:", " (dry run)" if dry_run else "", extra=counts)
    return report


def _pruned(
    db: Database, retention: Retention, now: datetime, stop: threading.Event | None
) -> PruneReport:
    report = PruneReport()
    size = retention.batch
    if retention.keep_articles is not None:
        cutoff = now - retention.keep_articles
        while not _stopped(stop):
            batch = db.retrying(lambda session: _delete_batch(session, cutoff, now, size))
            if not batch.articles:
                break
            report.batches += 1
            report.articles += batch.articles
            report.copies += batch.copies
            report.deliveries += batch.deliveries
            report.images += _unlink_unused(db, retention.images, batch.image_paths, now)
            _let_others_write(db, stop)
    if retention.keep_dedup_keys is not None:
        before = now - retention.keep_dedup_keys
        while not _stopped(stop):
            expired = db.retrying(lambda session: expire(session, before, size))
            if not expired:
                break
            report.batches += 1
            report.tombstones_expired += expired
            _let_others_write(db, stop)
    if retention.keep_raw is not None and not _stopped(stop):
        report.raw_pages = prune_raw_pages(db, now - retention.keep_raw)
    report.stopped = _stopped(stop)
    return report


def _stopped(stop: threading.Event | None) -> bool:
    return stop is not None and stop.is_set()


def _let_others_write(db: Database, stop: threading.Event | None) -> None:
    """On SQLite, a gap after a batch long enough for a waiting writer to get in."""
    if db.dialect == "sqlite":
        (stop or threading.Event()).wait(SQLITE_PAUSE)


def _delete_batch(session: Session, cutoff: datetime, now: datetime, size: int) -> PruneReport:
    """One transaction: the oldest ``size`` articles stored before ``cutoff``, buried, then
    deleted with their rows in other tables."""
    ids = list(
        session.scalars(
            select(Article.id)
            .where(Article.fetched_at < cutoff)
            .order_by(Article.fetched_at, Article.id)
            .limit(size)
        )
    )
    if not ids:
        return PruneReport()
    batch = PruneReport(articles=len(ids))
    batch.image_paths = set(
        session.scalars(
            select(Article.image_path).where(Article.id.in_(ids), Article.image_path.is_not(None))
        )
    )
    batch.copies = _count(session, _copies(ArticleUrl.article_id.in_(ids)))
    batch.deliveries = _count(session, select(Delivery.id).where(Delivery.article_id.in_(ids)))
    bury(session, ids, now)
    delete_bands(session, ids)
    for model in (Delivery, ArticleKey, ArticleUrl):
        _delete(session, delete(model).where(model.article_id.in_(ids)))
    _delete(session, delete(Article).where(Article.id.in_(ids)))
    return batch


def _copies(which: Any) -> Any:
    return select(ArticleUrl.id).where(which, ArticleUrl.kind.like("duplicate%"))


def _count(session: Session, query: Any) -> int:
    return session.scalar(select(func.count()).select_from(query.subquery())) or 0


def _delete(session: Session, statement: Any) -> None:
    session.execute(statement, execution_options={"synchronize_session": False})


def _unlink_unused(
    db: Database, directory: Path | None, paths: Iterable[str], now: datetime
) -> int:
    """Delete the image files of ``paths`` (relative to ``directory``) no article shows any
    more; how many. A path leading out of ``directory`` is never followed."""
    paths = set(paths)
    if directory is None or not paths:
        return 0
    with db.reading() as session:
        used = set(session.scalars(select(Article.image_path).where(Article.image_path.in_(paths))))
    root = directory.resolve()
    fresh = (now - IMAGE_GRACE).timestamp()
    removed = 0
    for relative in sorted(paths - used):
        target = (root / relative).resolve()
        if root not in target.parents:
            continue
        try:
            if target.stat().st_mtime > fresh:
                continue
            target.unlink()
        except FileNotFoundError:
            continue
        removed += 1
    return removed


def _counted(db: Database, retention: Retention, now: datetime) -> PruneReport:
    """What a prune at ``now`` would delete (image files: those no newer article shows)."""
    report = PruneReport(dry_run=True)
    with db.reading() as session:
        if retention.keep_articles is not None:
            cutoff = now - retention.keep_articles
            old = select(Article.id).where(Article.fetched_at < cutoff)
            report.articles = _count(session, old)
            report.copies = _count(session, _copies(ArticleUrl.article_id.in_(old)))
            kept = select(Article.image_path).where(Article.fetched_at >= cutoff)
            images = select(Article.image_path).where(
                Article.fetched_at < cutoff,
                Article.image_path.is_not(None),
                Article.image_path.not_in(kept.where(Article.image_path.is_not(None))),
            )
            report.images = _count(session, images.distinct())
            deliveries = select(Delivery.id).where(Delivery.article_id.in_(old))
            report.deliveries = _count(session, deliveries)
        if retention.keep_dedup_keys is not None:
            before = now - retention.keep_dedup_keys
            report.tombstones_expired = expire(session, before, 0, dry_run=True)
        if retention.keep_raw is not None:
            raw = select(RawPage.article_id).where(RawPage.fetched_at < now - retention.keep_raw)
            report.raw_pages = _count(session, raw)
    return report
