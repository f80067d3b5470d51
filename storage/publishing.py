"""Reading stored articles for export, and handing them out once (``--mark-published``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from storage.db import Database
from storage.history_models import ArticleRevision
from storage.models import Article, ArticleUrl, Source, utcnow
from storage.records import Selection, StoredArticle
from storage.statements import chunks


def _where(selection: Selection, query: Any) -> Any:
    if selection.source is not None:
        query = query.where(Source.name == selection.source)
    if selection.since is not None:
        query = query.where(Article.fetched_at >= selection.since)
    if selection.unpublished:
        query = query.where(Article.marked_published_at.is_(None))
    return query


def iter_articles(db: Database, selection: Selection | None = None) -> Iterator[StoredArticle]:
    """The selected articles, oldest first, with all their addresses; streamed in batches."""
    query = _where(
        selection or Selection(),
        select(Article, Source.name).join(Source, Source.id == Article.source_id),
    )
    with db.reading() as session:
        result = session.execute(query.order_by(Article.id).execution_options(yield_per=200))
        for batch in result.partitions():
            yield from stored_articles(session, list(batch))


@contextmanager
def publishing(db: Database, selection: Selection) -> Iterator[list[StoredArticle]]:
    """Mark the selected unpublished articles as published and hand them over.

    The marking and the read are one transaction, committed only when the caller's block
    succeeds: two exports never hand out one article twice (the second waits for the
    first's row locks, then finds them marked), and an export whose output could not be
    written marks nothing.
    """
    chosen = _where(
        Selection(selection.source, selection.since, unpublished=True),
        select(Article.id).join(Source, Source.id == Article.source_id),
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
        for chunk in chunks(ids):
            rows = session.execute(
                select(Article, Source.name)
                .join(Source, Source.id == Article.source_id)
                .where(Article.id.in_(chunk))
                .order_by(Article.id)
            ).all()
            articles.extend(stored_articles(session, [tuple(row) for row in rows]))
        yield articles


def stored_articles(session: Session, rows: list[Any]) -> Iterator[StoredArticle]:
    """(Article, source name) rows as exported articles, with every address of each."""
    aliases = _addresses_of(session, [article.id for article, _ in rows])
    firsts = _first_hashes(session, [article.id for article, _ in rows if article.revision > 1])
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
            language_source=article.language_source,
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
            image=article.image,
            image_caption=article.image_caption,
            image_credit=article.image_credit,
            image_path=article.image_path,
            revision=article.revision,
            updated_at=article.updated_at,
            first_content_hash=firsts.get(article.id, article.content_hash),
        )


def _first_hashes(session: Session, article_ids: list[int]) -> dict[int, str]:
    """The content hash of revision 1 of each corrected article of ``article_ids``."""
    if not article_ids:
        return {}
    rows = session.execute(
        select(ArticleRevision.article_id, ArticleRevision.content_hash).where(
            ArticleRevision.article_id.in_(article_ids), ArticleRevision.revision == 1
        )
    )
    return {article_id: content_hash for article_id, content_hash in rows}


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
    """How many articles are stored."""
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0
