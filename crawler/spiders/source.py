"""``scrapy crawl source -a source=NAME``: one run of one source in a spider of its own
(``feeds`` is an older name for it). newsrelay's own commands run their crawls in the
process's long-lived relay spider instead (:mod:`crawler.relay`); both run a
:class:`~crawler.spiders.crawl.SourceCrawl`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import ExitStack
from typing import Any, Self

import scrapy
from scrapy.crawler import Crawler
from scrapy.settings import BaseSettings

from crawler.config import Config, load_config
from crawler.services import Services, open_services
from crawler.settings import fetch_settings
from crawler.source_run import CrawlOptions, ProgressCallback
from crawler.spiders.crawl import SourceCrawl


class SourceSpider(scrapy.Spider):
    """Crawl one configured source: ``scrapy crawl source -a source=NAME``."""

    name = "source"

    def __init__(
        self,
        source: str | None = None,
        config: Config | None = None,
        services: Services | None = None,
        options: CrawlOptions | None = None,
        on_progress: ProgressCallback | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not source:
            raise ValueError(f"the {self.name} spider needs a source: -a source=NAME")
        if config is None:
            raise ValueError(f"the {self.name} spider needs a config")
        self._owned = ExitStack()
        if services is None:  # a plain `scrapy crawl source`
            services = self._owned.enter_context(open_services(config))
        self.config = config
        self.services = services
        self._source = source
        self._options = options
        self._on_progress = on_progress
        self.crawl: SourceCrawl | None = None  # made once the crawler's settings are known
        self._closing: asyncio.Task[None] | None = None

    @classmethod
    def update_settings(cls, settings: BaseSettings) -> None:
        super().update_settings(settings)
        if not settings.getbool("NEWSRELAY_CONFIGURED"):
            # A plain `scrapy crawl source`: apply the config file's [fetch] table here.
            config = load_config(settings.get("NEWSRELAY_CONFIG"))
            settings.setdict(fetch_settings(config), priority="spider")

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        if "config" not in kwargs:
            kwargs["config"] = load_config(crawler.settings.get("NEWSRELAY_CONFIG"))
        spider = super().from_crawler(crawler, *args, **kwargs)
        spider.crawl = crawl = SourceCrawl(
            spider._source,
            spider.config,
            spider.services,
            crawler.settings,
            spider._options,
            spider._on_progress,
        )
        crawl.host = spider
        return spider

    async def start(self) -> AsyncIterator[scrapy.Request]:
        assert self.crawl is not None
        async for request in self.crawl.start():
            yield request

    def stop_run(self, crawl: SourceCrawl, reason: str) -> None:
        # Not awaited here: closing waits for in-flight items, the caller's included.
        engine = self.crawler.engine
        if self._closing is None and engine is not None:
            self._closing = asyncio.ensure_future(engine.close_spider_async(reason=reason))

    def settle(self, crawl: SourceCrawl) -> None:
        """Nothing to do: the spider closes when Scrapy finds it idle."""

    async def closed(self, reason: str) -> None:
        """The run's end, written (Scrapy awaits this when the spider closes)."""
        try:
            if self.crawl is not None:
                await self.crawl.close(reason)
        finally:
            self._owned.close()


class FeedsSpider(SourceSpider):
    """``scrapy crawl feeds -a source=NAME``: the source spider's older name, kept working."""

    name = "feeds"
