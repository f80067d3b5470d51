"""The queries newsrelay runs: sources and feeds, saving articles with dedup, crawl runs.

Dedup is decided here, inside one transaction per article, and the database's unique
constraints (``articles.url``, ``articles.content_hash``, ``article_urls.url``) are the last
word: two crawls writing the same story at once store it once.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import Article, ArticleUrl, CrawlRun, Feed, Source, utcnow

SaveOutcome = Literal["new", "duplicate_url", "duplicate_content"]
_CHUNK = 500


@dataclass(frozen=True)
class SourceIds:
    source_id: int
    feed_ids: dict[str, int]


@dataclass(frozen=True)
class FeedState:
    """What was learnt about a feed on the last fetch."""

    etag: str | None = None
    last_modified: str | None = None


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

    def addresses(self) -> list[str]:
        """The canonical addresses of this copy, its own URL first."""
        urls = [self.url]
        if self.page_canonical_url and self.page_canonical_url != self.url:
            urls.append(self.page_canonical_url)
        return urls


@dataclass(frozen=True)
class SaveResult:
    outcome: SaveOutcome
    article_id: int


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
    duplicates_content: int = 0


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
    duplicates: list[dict[str, str]] = field(default_factory=list)


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
    """The stored HTTP validators of the given feeds."""
    with db.reading() as session:
        rows = session.execute(
            select(Feed.id, Feed.etag, Feed.last_modified).where(Feed.id.in_(list(feed_ids)))
        ).all()
    return {row.id: FeedState(row.etag, row.last_modified) for row in rows}


def record_feed_fetch(
    db: Database,
    feed_id: int,
    *,
    status: int | None,
    error: str | None = None,
    validators: FeedState | None = None,
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
    with db.transaction() as session:
        session.execute(update(Feed).where(Feed.id == feed_id).values(**values))


# -- articles -------------------------------------------------------------------------------
def known_urls(db: Database, urls: Iterable[str]) -> set[str]:
    """The subset of ``urls`` (canonical) already stored as an address of some article."""
    wanted = sorted(set(urls))
    found: set[str] = set()
    with db.reading() as session:
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start : start + _CHUNK]
            found.update(session.scalars(select(ArticleUrl.url).where(ArticleUrl.url.in_(chunk))))
    return found


def save_article(db: Database, record: ArticleRecord) -> SaveResult:
    """Store ``record`` as a new article, or record its addresses as aliases of the stored one.

    Same canonical address -> ``duplicate_url``; same normalized text -> ``duplicate_content``.
    Nothing is dropped silently: every address ends up in ``article_urls``.
    """
    with db.transaction() as session:
        return _save(session, record)


def save_articles(db: Database, records: Sequence[ArticleRecord]) -> list[SaveResult]:
    """Save several articles in one transaction (one fsync instead of many)."""
    with db.transaction() as session:
        return [_save(session, record) for record in records]


def _save(session: Session, record: ArticleRecord) -> SaveResult:
    addresses = record.addresses()
    existing = _article_by_address(session, addresses)
    if existing is not None:
        _add_addresses(session, existing, addresses, "duplicate_url", record.source_id)
        return SaveResult("duplicate_url", existing)
    existing = _article_by_hash(session, record.content_hash)
    if existing is not None:
        _add_addresses(session, existing, addresses, "duplicate_content", record.source_id)
        return SaveResult("duplicate_content", existing)

    row = {
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
    inserted = _insert_ignore(session, Article, [row], None, returning=Article.id)
    if not inserted:
        # Another writer stored the same URL or text since we looked: it wins.
        winner = _article_by_address(session, [record.url])
        outcome: SaveOutcome = "duplicate_url"
        if winner is None:
            winner = _article_by_hash(session, record.content_hash)
            outcome = "duplicate_content"
        if winner is None:  # pragma: no cover - a unique constraint fired, so a row exists
            raise RuntimeError(f"insert of {record.url} conflicted but no row was found")
        _add_addresses(session, winner, addresses, outcome, record.source_id)
        return SaveResult(outcome, winner)
    article_id = inserted[0]
    rows = [
        {
            "article_id": article_id,
            "url": url,
            "kind": "canonical" if url == record.url else "page_canonical",
            "source_id": record.source_id,
            "seen_at": record.fetched_at,
        }
        for url in addresses
    ]
    _insert_ignore(session, ArticleUrl, rows, ["url"])
    return SaveResult("new", article_id)


def _article_by_address(session: Session, urls: Sequence[str]) -> int | None:
    return session.scalars(
        select(ArticleUrl.article_id).where(ArticleUrl.url.in_(urls)).limit(1)
    ).first()


def _article_by_hash(session: Session, content_hash: str) -> int | None:
    return session.scalars(
        select(Article.id).where(Article.content_hash == content_hash).limit(1)
    ).first()


def _add_addresses(
    session: Session, article_id: int, urls: Sequence[str], kind: str, source_id: int
) -> None:
    now = utcnow()
    rows = [
        {"article_id": article_id, "url": url, "kind": kind, "source_id": source_id, "seen_at": now}
        for url in urls
    ]
    _insert_ignore(session, ArticleUrl, rows, ["url"])


def _insert_ignore(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    conflict_columns: list[str] | None,
    returning: Any = None,
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING; return the ``returning`` values of inserted rows."""
    dialect = session.get_bind().dialect.name
    module: Any = postgresql if dialect == "postgresql" else sqlite
    # Sorted keys keep lock order stable across writers (PostgreSQL deadlocks otherwise).
    if conflict_columns:
        rows = sorted(rows, key=lambda r: tuple(str(r[c]) for c in conflict_columns))
    statement: Any = module.insert(model).values(rows)
    statement = statement.on_conflict_do_nothing(index_elements=conflict_columns)
    if returning is None:
        session.execute(statement)
        return []
    return list(session.scalars(statement.returning(returning)))


# -- crawl runs -----------------------------------------------------------------------------
def start_run(db: Database, source_id: int) -> int:
    """Open a ``crawl_runs`` row in state ``running``."""
    with db.transaction() as session:
        run = CrawlRun(source_id=source_id, started_at=utcnow(), status="running")
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
def iter_articles(db: Database, *, source: str | None = None) -> Iterator[StoredArticle]:
    """Every stored article, oldest first, with all its addresses."""
    query = (
        select(Article, Source.name)
        .join(Source, Source.id == Article.source_id)
        .order_by(Article.id)
    )
    if source is not None:
        query = query.where(Source.name == source)
    with db.reading() as session:
        for batch in session.execute(query.execution_options(yield_per=200)).partitions():
            ids = [article.id for article, _ in batch]
            aliases = _addresses_of(session, ids)
            for article, source_name in batch:
                urls = aliases.get(article.id, [])
                yield StoredArticle(
                    id=article.id,
                    source=source_name,
                    url=article.url,
                    urls=[u for u, _ in urls] or [article.url],
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
                        {"url": u, "kind": k} for u, k in urls if k.startswith("duplicate_")
                    ],
                )


def _addresses_of(session: Session, article_ids: list[int]) -> dict[int, list[tuple[str, str]]]:
    rows = session.execute(
        select(ArticleUrl.article_id, ArticleUrl.url, ArticleUrl.kind)
        .where(ArticleUrl.article_id.in_(article_ids))
        .order_by(ArticleUrl.id)
    ).all()
    result: dict[int, list[tuple[str, str]]] = {}
    for article_id, url, kind in rows:
        result.setdefault(article_id, []).append((url, kind))
    return result


def count_articles(db: Database) -> int:
    from sqlalchemy import func

    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0
