"""``[images] download``: an article whose lead image should be kept waits for that image,
fetched as a request of the crawl itself, so robots.txt, the source's fetch options (user
agent, headers, cookies, proxy) and the private-address guard apply to it as to its page.

The article is stored whatever happens to its image: a refused, failed or oversized image
only leaves ``image_path`` empty (the URL stays), with one WARNING line.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace
from pathlib import Path
from typing import Any

import scrapy
from scrapy.http import Response
from twisted.python.failure import Failure

from crawler.failures import SIZE_LIMIT, describe_failure
from crawler.image_files import ImageRefused, store_image
from crawler.images_config import ImagesConfig
from crawler.spiders.records import RunItem
from storage.records import ArticleRecord

logger = logging.getLogger(__name__)


class ImageKeeper:
    """One spider's image downloads (``config`` None: download is off)."""

    def __init__(self, config: ImagesConfig | None, source: str) -> None:
        self.config = config if config is not None and config.download else None
        self.source = source

    def follow(self, item: RunItem) -> RunItem | scrapy.Request:
        """``item`` itself, or a request (of the item's crawl) for its image that hands
        ``item`` on. A revision (a correction) keeps its article's image: nothing to fetch."""
        record = item.record
        if self.config is None or not record.image or record.revision_of is not None:
            return item
        return scrapy.Request(
            record.image,
            callback=self.keep,
            errback=self.failed,
            cb_kwargs={"item": item},
            # Scrapy cancels a download past this size, whatever the Content-Length says.
            meta={
                "kind": "image",
                "download_maxsize": self.config.max_bytes,
                "crawl": item.crawl,
            },
            # Two articles may share one picture: the duplicate filter would drop the second
            # request, and its article with it, silently.
            dont_filter=True,
        )

    async def keep(self, response: Response, item: RunItem) -> list[RunItem]:
        """The image's callback: the file kept (hashed and written in a thread: up to
        ``max_bytes`` would hold the crawl's loop), its path on the record."""
        config, record = self.config, item.record
        if config is None or config.directory is None:  # an in-memory SQLite database
            self._not_kept(record, "no [images] directory")
            return [item]
        try:
            path = await asyncio.to_thread(
                store_image, response.body, Path(config.directory), config.max_bytes
            )
        except (ImageRefused, OSError) as exc:
            self._not_kept(record, str(exc))
            return [item]
        except Exception as exc:  # a bug must not lose the article with its image
            logger.exception("image not kept: source=%s url=%s", self.source, record.url)
            self._not_kept(record, f"{type(exc).__name__}: {exc}")
            return [item]
        return [RunItem(item.crawl, replace(record, image_path=path))]

    def failed(self, failure: Failure) -> list[RunItem]:
        """The image's errback: the article goes on without its file."""
        request: Any = failure.request  # type: ignore[attr-defined]
        item: RunItem = request.cb_kwargs["item"]
        record = item.record
        # The download's size limit here is the images' own.
        reason = describe_failure(failure).replace(
            SIZE_LIMIT, "image larger than [images] max_bytes"
        )
        self._not_kept(record, reason)
        return [item]

    def _not_kept(self, record: ArticleRecord, reason: str) -> None:
        logger.warning(
            "image not kept: source=%s url=%s image=%s reason=%s",
            self.source,
            record.url,
            record.image,
            reason,
        )
