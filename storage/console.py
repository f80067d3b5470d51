"""What the HTTP console reads: articles (full-text search, newest first, by cursor), one
article with its copies and deliveries, runs, and what the metrics count.

Search is SQLite FTS5 (``articles_fts``, kept in step by triggers) or a PostgreSQL
``tsvector`` (the generated column ``articles.search``), both from migration 0009. Each word
of the query must appear (a word written with a half-space, ``پیش‌بینی``, as a phrase).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Integer, column, func, select, text

from storage.db import Database
from storage.models import Article, ArticleUrl, CrawlRun, Delivery, Source
from storage.publishing import stored_articles
from storage.records import RunRecord, StoredArticle
from storage.runs import run_record

MAX_LIMIT = 200


@dataclass(frozen=True)
class ArticleListing:
    id: int
    source: str
    url: str
    title: str
    language: str | None
    published_at: datetime | None
    fetched_at: datetime
    snippet: str
    copies: int  # other addresses recognised as the same story


@dataclass(frozen=True)
class ArticleFilter:
    q: str | None = None
    source: str | None = None
    language: str | None = None
    since: datetime | None = None
    before_id: int | None = None  # the cursor: articles stored before this one
    limit: int = 50


# The letters migration 0009 folds in the index: Arabic yeh, alef maksura and kaf are
# searched as their Persian forms, so either spelling finds both.
_FOLD = str.maketrans({"\u064a": "\u06cc", "\u0649": "\u06cc", "\u0643": "\u06a9"})


def _fts5_query(q: str) -> str:
    """Every word of ``q`` as an FTS5 phrase (so no operator in it is obeyed)."""
    return " ".join('"' + word.replace('"', '""') + '"' for word in q.translate(_FOLD).split())


def search_articles(db: Database, wanted: ArticleFilter) -> list[ArticleListing]:
    """Articles matching ``wanted``, newest first (by the order they were stored)."""
    query = select(Article, Source.name).join(Source, Source.id == Article.source_id)
    if wanted.q and wanted.q.split():
        if db.dialect == "sqlite":
            matching = text("SELECT rowid FROM articles_fts WHERE articles_fts MATCH :q")
            rowids = matching.bindparams(q=_fts5_query(wanted.q)).columns(column("rowid", Integer))
            query = query.where(Article.id.in_(rowids.scalar_subquery()))
        else:
            query = query.where(
                text("articles.search @@ plainto_tsquery('simple', :q)").bindparams(
                    q=wanted.q.translate(_FOLD)
                )
            )
    if wanted.source:
        query = query.where(Source.name == wanted.source)
    if wanted.language:
        query = query.where(Article.language == wanted.language)
    if wanted.since:
        query = query.where(Article.fetched_at >= wanted.since)
    if wanted.before_id is not None:
        query = query.where(Article.id < wanted.before_id)
    limit = max(1, min(wanted.limit, MAX_LIMIT))
    with db.reading() as session:
        rows = session.execute(query.order_by(Article.id.desc()).limit(limit)).all()
        copies = _copies(session, [article.id for article, _ in rows])
    return [
        ArticleListing(
            a.id,
            name,
            a.url,
            a.title,
            a.language,
            a.published_at,
            a.fetched_at,
            " ".join(a.text[:300].split()),
            copies.get(a.id, 0),
        )
        for a, name in rows
    ]


def _copies(session: Any, ids: list[int]) -> dict[int, int]:
    if not ids:
        return {}
    rows = session.execute(
        select(ArticleUrl.article_id, func.count())
        .where(ArticleUrl.article_id.in_(ids), ArticleUrl.kind.like("duplicate_%"))
        .group_by(ArticleUrl.article_id)
    ).all()
    return {article_id: count for article_id, count in rows}


@dataclass(frozen=True)
class DeliveryState:
    destination: str
    state: str
    attempts: int
    remote_id: str | None
    status_code: int | None
    last_error: str | None
    delivered_at: datetime | None


def article_detail(
    db: Database, article_id: int
) -> tuple[StoredArticle, list[DeliveryState]] | None:
    """The article with all its addresses and copies, and its deliveries; None if unknown."""
    with db.reading() as session:
        row = session.execute(
            select(Article, Source.name)
            .join(Source, Source.id == Article.source_id)
            .where(Article.id == article_id)
        ).first()
        if row is None:
            return None
        [article] = list(stored_articles(session, [tuple(row)]))
        deliveries = [
            DeliveryState(
                d.destination,
                d.state,
                d.attempts,
                d.remote_id,
                d.status_code,
                d.last_error,
                d.delivered_at,
            )
            for d in session.scalars(
                select(Delivery).where(Delivery.article_id == article_id).order_by(Delivery.id)
            )
        ]
    return article, deliveries


def list_runs(
    db: Database,
    *,
    source: str | None = None,
    status: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
) -> list[tuple[str, RunRecord]]:
    """(source name, run), newest first."""
    query = select(CrawlRun, Source.name).join(Source, Source.id == CrawlRun.source_id)
    if source:
        query = query.where(Source.name == source)
    if status:
        query = query.where(CrawlRun.status == status)
    if before_id is not None:
        query = query.where(CrawlRun.id < before_id)
    limit = max(1, min(limit, MAX_LIMIT))
    with db.reading() as session:
        rows = session.execute(query.order_by(CrawlRun.id.desc()).limit(limit)).all()
        return [(name, run_record(run)) for run, name in rows]


def run_with_source(db: Database, run_id: int) -> tuple[str, RunRecord] | None:
    with db.reading() as session:
        row = session.execute(
            select(CrawlRun, Source.name)
            .join(Source, Source.id == CrawlRun.source_id)
            .where(CrawlRun.id == run_id)
        ).first()
        return (row[1], run_record(row[0])) if row is not None else None
