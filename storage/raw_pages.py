"""Raw pages: each stored article's page as it was fetched, compressed, kept for
``storage.keep_raw`` so that ``newsrelay reextract`` can run the current extraction rules on
it again without fetching it.

zstd when the ``zstandard`` package is installed, else gzip from the standard library; each
row names its compression, so gzip rows stay readable when zstandard comes later. One row
per article: a correction's page replaces the earlier one.
"""

from __future__ import annotations

import gzip
import importlib
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from storage.db import Database, StorageError
from storage.history_models import RawPage
from storage.models import Article, Source
from storage.records import FetchedPage, KeptPage


@cache
def _zstandard() -> Any | None:
    try:
        return importlib.import_module("zstandard")
    except ImportError:
        return None


def compress(body: bytes) -> tuple[str, bytes]:
    """(compression, compressed bytes): zstd if installed, else gzip."""
    zstd = _zstandard()
    if zstd is not None:
        return "zstd", bytes(zstd.ZstdCompressor(level=3).compress(body))
    return "gzip", gzip.compress(body, compresslevel=6)


def decompress(compression: str, data: bytes) -> bytes:
    if compression == "gzip":
        return gzip.decompress(data)
    zstd = _zstandard()
    if zstd is None:
        raise StorageError("a raw page is zstd-compressed: install the zstandard package")
    return bytes(zstd.ZstdDecompressor().decompress(data))


def raw_page_row(article_id: int, page: FetchedPage) -> dict[str, Any]:
    """The ``raw_pages`` row keeping ``page`` for article ``article_id`` (compressed)."""
    compression, body = compress(page.body)
    return {
        "article_id": article_id,
        "url": page.url,
        "fetched_at": page.fetched_at,
        "content_type": page.content_type,
        "compression": compression,
        "body": body,
        "entry_title": page.entry_title,
        "entry_language": page.entry_language,
        "entry_image": page.entry_image,
    }


def replace_raw_page(session: Session, article_id: int, page: FetchedPage) -> None:
    """Keep ``page`` as the article's raw page, instead of the one kept before."""
    session.execute(delete(RawPage).where(RawPage.article_id == article_id))
    session.execute(insert(RawPage), [raw_page_row(article_id, page)])


def kept_pages(
    db: Database,
    sources: list[str],
    since: datetime | None = None,
    *,
    after: int = 0,
    limit: int = 50,
) -> list[KeptPage]:
    """Raw pages of the articles of the sources named ``sources`` above article id
    ``after``, fetched at or after ``since``: the next ``limit`` of them, decompressed."""
    query = (
        select(RawPage, Article.url, Source.id, Source.name)
        .join(Article, Article.id == RawPage.article_id)
        .join(Source, Source.id == Article.source_id)
        .where(Source.name.in_(sorted(sources)), RawPage.article_id > after)
        .order_by(RawPage.article_id)
        .limit(limit)
    )
    if since is not None:
        query = query.where(RawPage.fetched_at >= since)
    with db.reading() as session:
        rows = session.execute(query).all()
    return [
        KeptPage(
            row.article_id,
            source_id,
            source,
            article_url,
            FetchedPage(
                row.url,
                row.content_type,
                decompress(row.compression, row.body),
                row.fetched_at,
                row.entry_title,
                row.entry_language,
                row.entry_image,
            ),
        )
        for row, article_url, source_id, source in rows
    ]


def prune_raw_pages(db: Database, before: datetime | None) -> int:
    """Delete the raw pages fetched before ``before`` (all of them when None: none are to
    be kept); how many."""
    statement = delete(RawPage)
    if before is not None:
        statement = statement.where(RawPage.fetched_at < before)
    with db.transaction() as session:
        return int(session.execute(statement).rowcount or 0)  # type: ignore[attr-defined]
