"""Item pipelines: every extracted article goes to storage, where dedup is decided."""

from __future__ import annotations

import asyncio
import logging
from typing import Self

from scrapy.crawler import Crawler

from storage.db import StorageError
from storage.repository import ArticleRecord, save_article

logger = logging.getLogger(__name__)


class StoragePipeline:
    """Save each ArticleRecord; count it as new or as a duplicate (by URL or by content)."""

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self._closing: asyncio.Task[None] | None = None

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        return cls(crawler)

    def process_item(self, item: ArticleRecord) -> ArticleRecord:
        context = self.crawler.spider.context  # type: ignore[union-attr]
        try:
            result = save_article(context.db, item)
        except StorageError as exc:
            # Disk full, database gone: every later write would fail too. What is stored
            # stays stored; stop this crawl and say why.
            context.fail(f"storage: {exc}")
            logger.error(
                "storage failed: source=%s url=%s reason=%s", context.source.name, item.url, exc
            )
            self._stop_crawl()
            return item
        context.count_saved(result.outcome)
        return item

    def _stop_crawl(self) -> None:
        # Not awaited here: closing waits for in-flight items, this one included.
        if self._closing is None and self.crawler.engine is not None:
            self._closing = asyncio.ensure_future(
                self.crawler.engine.close_spider_async(reason="storage_error")
            )
