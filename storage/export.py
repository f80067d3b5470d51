"""Republishing formats. Today: JSON lines, one object per article."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, TextIO

from storage.repository import StoredArticle

FORMATS = ("jsonl",)


def article_dict(article: StoredArticle) -> dict[str, Any]:
    """Every exported field of one article, JSON-ready (datetimes in ISO 8601)."""
    return {
        "id": article.id,
        "source": article.source,
        "url": article.url,
        "urls": article.urls,
        "original_url": article.original_url,
        "page_canonical_url": article.page_canonical_url,
        "guid": article.guid,
        "title": article.title,
        "author": article.author,
        "language": article.language,
        "published": article.published_at.isoformat() if article.published_at else None,
        "fetched": article.fetched_at.isoformat(),
        "text": article.text,
        "html": article.html,
        "content_hash": article.content_hash,
        "duplicates": article.duplicates,
    }


def write_jsonl(articles: Iterable[StoredArticle], out: TextIO) -> int:
    """Write one JSON object per line; return how many were written."""
    count = 0
    for article in articles:
        out.write(json.dumps(article_dict(article), ensure_ascii=False))
        out.write("\n")
        count += 1
    return count
