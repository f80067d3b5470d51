"""Run crawls of configured sources inside the current process.

``newsrelay crawl`` and the daemon's scheduled job both end up in :func:`crawl_sources`. Each
source gets its own Crawler (Scrapy needs a new one per crawl) on the one asyncio reactor the
process keeps for its whole life: a Twisted reactor cannot be restarted.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from scrapy.crawler import AsyncCrawlerRunner
from scrapy.settings import Settings
from scrapy.utils.reactor import install_reactor

from crawler import settings as default_settings
from crawler.config import Config, SourceConfig
from crawler.downloader import PerHostLimitedDownloader
from crawler.source_run import CrawlOptions, ProgressCallback, SourceResult, StoppedAtOnce
from crawler.spiders.page import FetchedPage, PageSpider
from crawler.spiders.source import FeedSpider
from crawler.workers import Pool
from storage.db import Database
from storage.records import RunCounters
from storage.runs import mark_abandoned_runs
from storage.sources import backoff_until

logger = logging.getLogger(__name__)
T = TypeVar("T")


def fetch_settings(config: Config) -> dict[str, Any]:
    """Scrapy settings that the config file's ``[fetch]`` table controls."""
    fetch = config.fetch
    return {
        "USER_AGENT": fetch.user_agent,
        "ROBOTSTXT_OBEY": fetch.obey_robots,
        "DOWNLOAD_TIMEOUT": fetch.timeout,
        "DOWNLOAD_MAXSIZE": fetch.max_page_bytes,
        "CONCURRENT_REQUESTS_PER_DOMAIN": fetch.concurrency_per_host,
        "RETRY_TIMES": fetch.retries,
        "AUTOTHROTTLE_ENABLED": fetch.autothrottle,
        "NEWSRELAY_ALLOW_PRIVATE_NETWORKS": fetch.allow_private_networks,
        "NEWSRELAY_NEAR_THRESHOLD": (
            config.dedup.near_threshold if config.dedup.near_duplicates else None
        ),
    }


def scrapy_settings(config: Config, overrides: dict[str, Any] | None = None) -> Settings:
    settings = Settings()
    settings.setmodule(default_settings, priority="project")
    settings.setdict(fetch_settings(config), priority="cmdline")
    settings.setdict({"NEWSRELAY_CONFIGURED": True, **(overrides or {})}, priority="cmdline")
    return settings


@dataclass
class Crawls:
    """What crawls in one process share: the Scrapy runner, the database, the worker pool."""

    config: Config
    db: Database
    runner: AsyncCrawlerRunner
    pool: Pool
    # At most ``fetch.parallel_sources`` crawls at once, across every caller (the daemon's
    # jobs each crawl one source).
    limit: asyncio.Semaphore
    stopping: bool = False  # set by stop_crawls: sources not yet started are skipped

    @classmethod
    def create(cls, config: Config, db: Database, pool: Pool | None = None) -> Crawls:
        return cls(
            config,
            db,
            AsyncCrawlerRunner(scrapy_settings(config)),
            pool or Pool(config.fetch.extract_processes),
            asyncio.Semaphore(config.fetch.parallel_sources),
        )

    def close(self) -> None:
        self.pool.shutdown()


async def crawl_sources(
    crawls: Crawls,
    sources: Sequence[SourceConfig],
    *,
    options: CrawlOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[SourceResult]:
    """Crawl ``sources`` concurrently (at most ``fetch.parallel_sources`` at once).

    Never raises for a source's failure: each one's result says how it went.
    """
    options = options or CrawlOptions()

    async def one(source: SourceConfig) -> SourceResult:
        async with crawls.limit:
            if crawls.stopping:  # a stop came while this source waited for a slot
                return SourceResult(source.name, None, "skipped", RunCounters(), [], 0.0)
            return await crawl_source(crawls, source, options, on_progress)

    return list(await asyncio.gather(*(one(source) for source in sources)))


async def crawl_source(
    crawls: Crawls,
    source: SourceConfig,
    options: CrawlOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> SourceResult:
    """One crawl of one source; logs exactly one summary record when it ends."""
    options = options or CrawlOptions()
    if options.due_only:
        backing_off = _backing_off_until(crawls.db, source)
        if backing_off is not None:
            logger.debug("source backing off: source=%s until=%s", source.name, backing_off)
            return SourceResult(source.name, None, "skipped", RunCounters(), [], 0.0)
    crawler = crawls.runner.create_crawler(FeedSpider)
    crash: str | None = None
    try:
        await crawls.runner.crawl(
            crawler,
            source=source.name,
            config=crawls.config,
            db=crawls.db,
            pool=crawls.pool,
            options=options,
            on_progress=on_progress,
        )
    except Exception as exc:  # one source blowing up must not take the others down
        crash = f"{type(exc).__name__}: {exc}"
        logger.exception("crawl crashed: source=%s", source.name)
    spider = crawler.spider
    result = spider.context.result if isinstance(spider, FeedSpider) else None
    if result is None or crash:
        errors = ([f"crawl crashed: {crash}"] if crash else []) + (result.errors if result else [])
        result = SourceResult(
            source=source.name,
            run_id=result.run_id if result else None,
            status="failed",
            counters=result.counters if result else RunCounters(),
            errors=errors,
            duration_s=result.duration_s if result else 0.0,
        )
    _log_summary(result)
    _check_extraction(result)
    return result


# A run must have extracted at least this many pages before its thin share means anything.
THIN_CHECK_MIN_PAGES = 4


def _check_extraction(result: SourceResult) -> None:
    """Warn when more than half of a run's pages gave an empty or tiny body: the usual sign
    that the site changed its layout and extraction (or its rules) no longer finds the text."""
    c = result.counters
    if c.pages_extracted >= THIN_CHECK_MIN_PAGES and c.pages_thin * 2 > c.pages_extracted:
        logger.warning(
            "extraction looks broken: source=%s: %d of %d pages gave an empty or tiny body; "
            "check the page layout with `newsrelay extract URL --source %s`",
            result.source,
            c.pages_thin,
            c.pages_extracted,
            result.source,
            extra={
                "source": result.source,
                "run_id": result.run_id,
                "pages_thin": c.pages_thin,
                "pages_extracted": c.pages_extracted,
            },
        )


def _backing_off_until(db: Database, source: SourceConfig) -> datetime | None:
    until = backoff_until(db, source.name)
    return until if until is not None and until > datetime.now(UTC) else None


def _log_summary(result: SourceResult) -> None:
    c = result.counters
    fields = {
        "source": result.source,
        "run_id": result.run_id,
        "status": result.status,
        "new": c.new,
        "duplicates": result.duplicates,
        "duplicates_url": c.duplicates_url,
        "duplicates_guid": c.duplicates_guid,
        "duplicates_url_id": c.duplicates_url_id,
        "duplicates_content": c.duplicates_content,
        "duplicates_near": c.duplicates_near,
        "known": c.known_skipped,
        "errors": result.failed,
        "feeds_fetched": c.feeds_fetched,
        "feeds_not_modified": c.feeds_not_modified,
        "feeds_not_due": c.feeds_not_due,
        "pages_fetched": c.pages_fetched,
        "pages_thin": c.pages_thin,
        "duration_s": result.duration_s,
    }
    level = logging.INFO if result.status == "ok" else logging.WARNING
    message = "crawl finished" if result.status == "ok" else f"crawl {result.status}"
    if result.status != "ok" and result.errors:
        message += f": {result.errors[0]}"
    logger.log(level, message, extra=fields)


# Python's default (700, 10, 10) collects after every 700 net allocations; a crawl allocates
# millions of short-lived objects, nearly all freed by reference counting anyway. Collecting
# less often cut the main process's time in the collector from 0.63 to 0.14 s (1,200 pages).
CRAWL_GC_THRESHOLDS = (50_000, 20, 10)


def run_crawls(
    config: Config,
    db: Database,
    sources: Sequence[SourceConfig],
    *,
    options: CrawlOptions | None = None,
    on_progress: ProgressCallback | None = None,
    pool: Pool | None = None,
) -> list[SourceResult]:
    """Blocking: run the reactor until every source's crawl has ended.

    The first SIGINT/SIGTERM closes the crawls gracefully (their runs are recorded as
    interrupted); a second one stops at once. A ``pool`` passed in stays the caller's to
    shut down.
    """
    closed = mark_abandoned_runs(db)
    if closed:
        logger.warning("closed %d runs left open by a process that died", closed)
    crawls = Crawls.create(config, db, pool)
    # What exists now (modules, config, settings) lives as long as the crawl: out of the
    # garbage collector's sight, full collections no longer walk it (0.55 -> 0.17 s of CPU
    # in a 1,200-page crawl), and the forked workers do not copy its pages by touching it.
    gc.freeze()
    thresholds = gc.get_threshold()
    gc.set_threshold(*CRAWL_GC_THRESHOLDS)
    try:
        crawls.pool.start_now()  # before the reactor runs: see Pool.start_now
        return run_in_reactor(
            crawl_sources(crawls, sources, options=options, on_progress=on_progress),
            on_first_signal=lambda: stop_crawls(crawls),
        )
    finally:
        if pool is None:
            crawls.close()
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def stop_crawls(crawls: Crawls) -> None:
    """Close every crawl of ``crawls`` now; their runs are recorded as interrupted, and
    sources still waiting for a crawl slot do not start.

    Scrapy's own stop waits for each download in flight to finish or time out (a server that
    never answers holds it for ``fetch.timeout``): those downloads are cancelled instead.
    """
    crawls.stopping = True
    runner = crawls.runner
    stopping = asyncio.ensure_future(runner.stop())
    await asyncio.sleep(0)  # the engines start closing first, so they take no new requests
    for crawler in list(runner.crawlers):
        downloader = getattr(crawler._engine, "downloader", None)
        if isinstance(downloader, PerHostLimitedDownloader):
            downloader.cancel_downloads()
    await stopping
    # Scrapy 2.19 race: a crawl asked to stop while its engine is still opening only has
    # `crawling` cleared; its engine then starts anyway and, when the spider is done, its
    # close callback sees `crawling` false and stops nothing: the crawl never ends (seen as
    # a SIGTERM taking the whole stop_timeout in 4 of 29 stops). Stop such engines here.
    # `_engine` is private (`engine` raises before it is set): re-check on a Scrapy upgrade.
    while runner.crawlers:
        for crawler in list(runner.crawlers):
            engine = crawler._engine
            if engine is not None and engine.running and not crawler.crawling:
                await engine.stop_async()
        await asyncio.sleep(0.05)


def fetch_page(config: Config, url: str) -> FetchedPage:
    """Blocking: download one page the way a crawl would (robots.txt, network guard, limits)."""
    runner = AsyncCrawlerRunner(scrapy_settings(config))
    fetched: list[FetchedPage] = []

    async def main() -> FetchedPage:
        await runner.crawl(PageSpider, url=url, into=fetched)
        if not fetched:
            raise RuntimeError(f"{url}: nothing was downloaded")
        return fetched[0]

    return run_in_reactor(main(), on_first_signal=runner.stop)


def run_in_reactor(work: Coroutine[Any, Any, T], on_first_signal: Callable[[], Any]) -> T:
    """Run ``work`` on the asyncio reactor until it completes, and return its result.

    The first SIGINT/SIGTERM calls ``on_first_signal`` (close gracefully); a second one stops
    the reactor at once.
    """
    install_reactor(default_settings.TWISTED_REACTOR)
    from twisted.internet import reactor as installed_reactor
    from twisted.internet.defer import Deferred
    from twisted.python.failure import Failure

    reactor: Any = installed_reactor
    outcome: dict[str, Any] = {}

    async def main() -> None:
        outcome["result"] = await work

    def finish(result: object) -> None:
        outcome["final"] = result
        reactor.stop()

    def start() -> None:
        Deferred.fromFuture(asyncio.ensure_future(main())).addBoth(finish)

    stops = 0

    def on_signal(signum: int, _frame: object) -> None:
        nonlocal stops
        stops += 1
        if stops == 1:
            logger.warning("%s received: closing crawls", signal.Signals(signum).name)
            reactor.callFromThread(lambda: asyncio.ensure_future(on_first_signal()))
        else:
            reactor.callFromThread(reactor.stop)

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        reactor.callWhenRunning(start)
        reactor.run(installSignalHandlers=False)
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    final = outcome.get("final")
    if isinstance(final, Failure):
        final.raiseException()
    if "result" not in outcome:
        raise StoppedAtOnce("stopped at once by a second signal")
    result: T = outcome["result"]
    return result
