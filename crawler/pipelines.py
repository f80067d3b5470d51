"""Item pipelines: every extracted article goes to storage, where dedup is decided."""

from __future__ import annotations

import asyncio
import logging
from typing import Self

from scrapy.crawler import Crawler

from crawler.failures import describe_exception
from crawler.spiders.records import RunItem
from storage.articles import save_articles

# Sent by a crawl whose requests are all done while its articles wait in the batch.
flush_requested = object()

logger = logging.getLogger(__name__)


class StoragePipeline:
    """Save ArticleRecords in batches, one transaction each; count each as new or as a
    duplicate of a given kind.

    A batch waits at most ``FLUSH_SECONDS`` after its first article (a timer flushes it when
    no other item comes), whatever its size; what a killed process had
    not written yet was not stored, so the next crawl fetches it again: nothing is lost,
    nothing is half-written. A batch costs a few statements whatever its size (see
    ``save_articles``), so larger batches are cheaper per article.
    """

    BATCH_SIZE = 100
    FLUSH_SECONDS = 1.0

    def __init__(self, crawler: Crawler) -> None:
        self.crawler = crawler
        self.near_threshold: float | None = crawler.settings.get("NEWSRELAY_NEAR_THRESHOLD")
        self._batch: list[RunItem] = []
        self._timer: asyncio.TimerHandle | None = None  # flushes a batch that waits too long
        self._flushing: set[asyncio.Task[None]] = set()  # flushes started without a waiter

    @classmethod
    def from_crawler(cls, crawler: Crawler) -> Self:
        pipeline = cls(crawler)
        crawler.signals.connect(pipeline.flush_now, signal=flush_requested)
        return pipeline

    async def process_item(self, item: RunItem) -> RunItem:
        """Add ``item`` to the batch; a full batch is written before the next item comes
        (while the database is busy, that is how the crawl slows down)."""
        item.crawl.items_pending += 1
        self._batch.append(item)
        if len(self._batch) >= self.BATCH_SIZE:
            await self._flush()
        elif self._timer is None:
            self._timer = asyncio.get_running_loop().call_later(self.FLUSH_SECONDS, self.flush_now)
        return item

    async def close_spider(self) -> None:
        """Every batch written (Scrapy awaits this before the spider closes)."""
        await asyncio.gather(*self._flushing)
        await self._flush()

    def flush_now(self) -> None:
        """Write the batch without waiting for it to fill (a crawl has nothing left to do
        but wait for its articles, or the batch waited ``FLUSH_SECONDS``)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not self._batch:
            return
        task = asyncio.ensure_future(self._flush())
        self._flushing.add(task)
        task.add_done_callback(self._flushing.discard)

    async def _flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        batch, self._batch = self._batch, []
        if not batch:
            return
        try:
            results = await batch[0].crawl.run.storage.call(
                save_articles, [item.record for item in batch], near_threshold=self.near_threshold
            )
        except Exception as exc:
            # Disk full, database gone (or a bug): every later write would fail too. What is
            # stored stays stored, what is not will be fetched again; stop the crawls whose
            # articles these were and say why.
            reason, known = describe_exception(exc)
            for crawl in {id(item.crawl): item.crawl for item in batch}.values():
                crawl.run.fail(reason)
                logger.error(
                    "storage failed: source=%s reason=%s",
                    crawl.run.source.name,
                    reason,
                    exc_info=None if known else exc,
                )
                crawl.stop("storage_error")
        else:
            for item, result in zip(batch, results, strict=True):
                run = item.crawl.run
                run.count_saved(result.outcome)
                if result.outcome == "new":  # as storage counts it: copies are no template
                    run.template.count(item.record.paragraphs)
        for item in batch:
            item.crawl.items_pending -= 1
            item.crawl.settled()
