"""The bench's one door into storage: its public API only (no models, no SQL).

Everything the bench stores goes through ``storage.articles.save_articles``, the function the
crawler's pipeline calls; what comes back is copied into :class:`Saved`, the bench's own
record of a result, so no other module of the bench needs a storage type.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from crawler.fingerprints import TextKeys
from storage.articles import save_articles
from storage.db import open_database
from storage.publishing import count_articles
from storage.records import ArticleRecord
from storage.sources import ensure_source

FETCHED_AT = datetime(2024, 6, 11, 8, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Saved:
    """What ``save_articles`` decided for one record (a copy of its ``SaveResult``)."""

    # new, duplicate_url, duplicate_guid, duplicate_url_id, duplicate_content, duplicate_near
    outcome: str
    article_id: int  # the new article, or the stored one it is a copy of
    similarity: float | None = None  # duplicate_near only


@dataclass(frozen=True)
class Article:
    """One text to store, as the crawler would hand it to storage (minus the page)."""

    url: str
    title: str
    text: str
    keys: TextKeys
    html: str = ""


class Store:
    """A database opened with ``storage.db.open_database`` (created if empty)."""

    def __init__(self, url: str) -> None:
        self._db = open_database(url)
        self._sources: dict[str, int] = {}

    @classmethod
    def sqlite(cls, path: Path) -> Store:
        return cls(f"sqlite:///{path}")

    @property
    def dialect(self) -> str:
        """``sqlite`` or ``postgresql``."""
        return self._db.dialect

    def source(self, name: str) -> int:
        """The id of source ``name`` (created on first use, with no feeds)."""
        if name not in self._sources:
            self._sources[name] = ensure_source(self._db, name, []).source_id
        return self._sources[name]

    def save(
        self, source: str, articles: Sequence[Article], near_threshold: float | None
    ) -> list[Saved]:
        """``save_articles`` of ``articles`` in one batch; results in the order given."""
        source_id = self.source(source)
        records = [
            ArticleRecord(
                source_id=source_id,
                url=article.url,
                original_url=article.url,
                title=article.title,
                text=article.text,
                html=article.html,
                content_hash=article.keys.content_hash,
                fetched_at=FETCHED_AT,
                near=article.keys.near,
            )
            for article in articles
        ]
        results = save_articles(self._db, records, near_threshold=near_threshold)
        return [Saved(r.outcome, r.article_id, r.similarity) for r in results]

    def count(self) -> int:
        """How many articles are stored (``storage.publishing.count_articles``)."""
        return count_articles(self._db)

    def close(self) -> None:
        self._db.dispose()


def safe_url(url: str) -> str:
    """``url`` with its password masked, for reports."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))
