"""The process's one Scrapy crawl: opened at the first run, kept open for the process's whole
life, and fed the requests of each source run as it falls due.

A Scrapy ``Crawler`` crawls once, and building one per run (its settings copied, its
middlewares, pipelines and downloader made again, a new connection to every host) cost more
than an unchanged poll itself. Here one crawler, one engine and one downloader (with its
connection pools and per-host limits) serve every run of the process. Its spider never closes
while the relay is open (``spider_idle`` raises ``DontCloseSpider``), and each run is a
:class:`~crawler.spiders.crawl.SourceCrawl` whose requests carry it in ``meta["crawl"]``.

A run ends when the last of its requests is done: every request it made has been scheduled
(``request_scheduled``) and either dropped (``request_dropped``) or processed to the end of
its output (:mod:`crawler.upstream.scraper`), and the storage pipeline has written its
articles. A redirect or a retry is a new request carrying the same ``meta`` (hence the same
token) and stands for the one it replaces. Stopping one run drops its queued requests,
cancels its downloads and ends its retry waits; the others go on.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, Self

import scrapy
from scrapy import Request, signals
from scrapy.crawler import AsyncCrawlerRunner, Crawler
from scrapy.exceptions import DontCloseSpider
from scrapy.settings import Settings

from crawler.pipelines import flush_requested
from crawler.source_run import SourceResult
from crawler.spiders.crawl import SourceCrawl
from crawler.upstream.downloader import PerHostLimitedDownloader
from crawler.upstream.scraper import on_request_processed

logger = logging.getLogger(__name__)


class RelayClosed(RuntimeError):
    """A run asked of a relay that is closing."""


class RelaySpider(scrapy.Spider):
    """The long-lived spider of a :class:`Relay`: it starts nothing, and stays open."""

    name = "relay"

    def __init__(self, relay: Relay, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.relay = relay

    @classmethod
    def from_crawler(cls, crawler: Crawler, *args: Any, **kwargs: Any) -> Self:
        spider = super().from_crawler(crawler, *args, **kwargs)
        relay = spider.relay
        crawler.signals.connect(relay._opened, signal=signals.spider_opened)
        crawler.signals.connect(relay._idle, signal=signals.spider_idle)
        crawler.signals.connect(relay._scheduled, signal=signals.request_scheduled)
        crawler.signals.connect(relay._processed, signal=signals.request_dropped)
        return spider

    async def start(self) -> AsyncIterator[Request]:
        return
        yield  # an async generator that yields nothing: the runs bring the requests


@dataclass(eq=False)
class _Run:
    crawl: SourceCrawl
    done: asyncio.Future[None]
    live: set[int] = field(default_factory=set)  # tokens of its requests not done yet
    starting: bool = True  # its start requests are still being made
    stop_reason: str | None = None


class Relay:
    """Runs of sources, each a :class:`SourceCrawl`, in one long-lived Scrapy crawl."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.runner = AsyncCrawlerRunner(settings)
        self.crawler: Crawler | None = None
        self.runs: dict[SourceCrawl, _Run] = {}
        self.closing = False
        self._retired = False
        self._opening: asyncio.Future[None] | None = None
        self._closing: asyncio.Future[None] | None = None  # a retired relay's close
        self._crawling: asyncio.Future[Any] | None = None
        self._tokens = itertools.count()

    @property
    def busy(self) -> bool:
        return bool(self.runs)

    async def run(self, crawl: SourceCrawl) -> SourceResult:
        """Crawl ``crawl`` to its end; its result, once its run is recorded."""
        crawler = await self._open()
        run = _Run(crawl, asyncio.get_running_loop().create_future())
        self.runs[crawl] = run
        crawl.host = self
        try:
            await self._start(crawler, run)
            self._settle(run)
            await run.done
        finally:
            del self.runs[crawl]
            if self._retired and not self.runs:
                self._close_soon()
        return await crawl.close(run.stop_reason or "finished")

    async def _start(self, crawler: Crawler, run: _Run) -> None:
        assert crawler.engine is not None
        try:
            async for request in run.crawl.start():
                if run.stop_reason is not None:
                    break
                crawler.engine.crawl(request)
        except Exception as exc:  # a bug: the run stops, what it started ends first
            run.crawl.run.fail(f"crawl crashed: {type(exc).__name__}: {exc}")
            logger.exception("crawl crashed: source=%s", run.crawl.run.source.name)
            self.stop_run(run.crawl, "start_error")
        finally:
            run.starting = False

    def stop_run(self, crawl: SourceCrawl, reason: str) -> None:
        """Stop one run: its queued requests are dropped, its downloads cancelled and its
        retry waits ended (each fails with CrawlStopping, which is no failure of the site)."""
        run = self.runs.get(crawl)
        if run is None or run.stop_reason is not None:
            return
        run.stop_reason = reason
        crawl.stopping.set()
        engine = self.crawler.engine if self.crawler is not None else None
        downloader = getattr(engine, "downloader", None)
        if isinstance(downloader, PerHostLimitedDownloader):
            downloader.cancel_downloads(lambda request: request.meta.get("crawl") is crawl)

    async def stop(self) -> None:
        """Stop every run (recorded as interrupted), wait for their ends, and close."""
        self.closing = True
        runs = list(self.runs.values())
        for run in runs:
            self.stop_run(run.crawl, "shutdown")
        await asyncio.gather(*(asyncio.shield(run.done) for run in runs))
        await self.close()

    def retire(self) -> None:
        """Close once the runs in flight have ended (a config reload made a new relay)."""
        self._retired = True
        if not self.runs:
            self._close_soon()

    def _close_soon(self) -> None:
        if self._closing is None:
            self._closing = asyncio.ensure_future(self.close())

    async def close(self) -> None:
        """Close the crawl, with no run left in it (see :meth:`stop`)."""
        self.closing = True
        crawling = self._crawling
        if crawling is None or crawling.done():
            return
        # What no run owns (a robots.txt a stopped run waited for) goes too: Scrapy's close
        # would wait for it as long as the server keeps it.
        downloader = getattr(self.crawler.engine if self.crawler else None, "downloader", None)
        if isinstance(downloader, PerHostLimitedDownloader):
            downloader.cancel_downloads()
        await self.runner.stop()
        await asyncio.shield(crawling)

    # -- the crawl ----------------------------------------------------------------------
    async def _open(self) -> Crawler:
        if self.closing:
            raise RelayClosed("the crawls are closing")
        if self._opening is None:
            self._opening = asyncio.get_running_loop().create_future()
            crawler = self.crawler = self.runner.create_crawler(RelaySpider)
            self._crawling = asyncio.ensure_future(self.runner.crawl(crawler, relay=self))
            self._crawling.add_done_callback(self._ended)
        await asyncio.shield(self._opening)
        assert self.crawler is not None
        return self.crawler

    def _opened(self) -> None:
        assert self.crawler is not None and self._opening is not None
        on_request_processed(self.crawler, self._processed)
        self._opening.set_result(None)

    def _ended(self, crawling: asyncio.Future[Any]) -> None:
        """The crawl ended: closed, or it failed to open (the next run tries again)."""
        opening, self._opening, self.crawler = self._opening, None, None
        if opening is not None and not opening.done():
            error = None if crawling.cancelled() else crawling.exception()
            opening.set_exception(error or RuntimeError("the crawl ended before it opened"))
            opening.exception()  # retrieved, whether a run waits for it or not
        for run in self.runs.values():  # nothing of theirs is left to wait for
            run.stop_reason = run.stop_reason or "crawl_ended"  # not "finished": a failure
            if not run.done.done():
                run.done.set_result(None)

    def _idle(self) -> None:
        if not self.closing:
            raise DontCloseSpider

    # -- each run's requests ------------------------------------------------------------
    def _run_of(self, request: Request) -> _Run | None:
        crawl = request.meta.get("crawl")
        return self.runs.get(crawl) if crawl is not None else None

    def _scheduled(self, request: Request) -> None:
        run = self._run_of(request)
        if run is not None:
            run.live.add(request.meta.setdefault("relay_token", next(self._tokens)))

    def _processed(self, request: Request) -> None:
        run = self._run_of(request)
        if run is not None:
            run.live.discard(request.meta.get("relay_token", -1))
            self._settle(run)

    def settle(self, crawl: SourceCrawl) -> None:
        run = self.runs.get(crawl)
        if run is not None:
            self._settle(run)

    def _settle(self, run: _Run) -> None:
        """End ``run`` if nothing of it is left: no request, no article waiting for the
        pipeline (which is asked to write at once rather than at its next timer)."""
        if run.starting or run.live or run.done.done():
            return
        if run.crawl.items_pending:
            if self.crawler is not None:
                self.crawler.signals.send_catch_log(flush_requested)
            return
        run.done.set_result(None)
