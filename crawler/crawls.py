"""Run crawls of configured sources inside the current process.

``newsrelay crawl`` and the daemon's scheduled job both end up in :func:`crawl_sources`. Each
source's run is fed into the process's one long-lived Scrapy crawl (:mod:`crawler.relay`), on
the one asyncio reactor the process keeps for its whole life: a Twisted reactor cannot be
restarted.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from crawler import metrics
from crawler.config import Config, SourceConfig
from crawler.gc_policy import CRAWL_GC_THRESHOLDS, settled
from crawler.reactor import run_in_reactor
from crawler.relay import Relay, RelayClosed
from crawler.run_bookkeeping import backing_off as backing_off_until
from crawler.run_bookkeeping import preload
from crawler.services import Services
from crawler.settings import scrapy_settings
from crawler.source_run import CrawlOptions, ProgressCallback, SourceResult
from crawler.spiders.crawl import SourceCrawl
from storage.db import StorageError
from storage.raw_pages import prune_raw_pages
from storage.records import RunCounters
from storage.runs import mark_abandoned_runs

logger = logging.getLogger(__name__)


class CrawlLimit:
    """At most ``size`` crawls at once, for every caller that shares it; the size can change
    (a config reload) without letting the crawls started before and after add up."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.running = 0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()

    async def __aenter__(self) -> None:
        while self.running >= self.size:
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                self._wake()  # a place this waiter was given goes to the next
                raise
        self.running += 1

    async def __aexit__(self, *_: object) -> None:
        self.running -= 1
        self._wake()

    def resize(self, size: int) -> None:
        self.size = size
        self._wake()

    def _wake(self) -> None:
        """Let as many waiting crawls look again as there are free places."""
        for _ in range(self.size - self.running):
            while self._waiting:
                turn = self._waiting.popleft()
                if not turn.done():  # not cancelled meanwhile
                    turn.set_result(None)
                    break


@dataclass
class Crawls:
    """The crawls of one config in one process: its relay (one Scrapy crawl for all of them)
    and its limit, with the process's shared :class:`~crawler.services.Services` (database,
    worker pool)."""

    config: Config
    services: Services
    relay: Relay
    # At most ``fetch.parallel_sources`` crawls at once, across every caller (the daemon's
    # jobs each crawl one source), and across the generations a reload makes.
    limit: CrawlLimit
    stopping: bool = False  # set by stop_crawls: sources not yet started are skipped

    @classmethod
    def create(cls, config: Config, services: Services, limit: CrawlLimit | None = None) -> Crawls:
        """Crawls of ``config``; ``limit``: the one the crawls of an earlier config use."""
        return cls(
            config,
            services,
            Relay(scrapy_settings(config)),
            limit or CrawlLimit(config.fetch.parallel_sources),
        )


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
    if len(sources) > 1 and options.worker is None:
        with contextlib.suppress(StorageError):  # each run then reads its source, and says so
            await preload(crawls.services.storage, sources)

    async def one(source: SourceConfig) -> SourceResult:
        async with crawls.limit:
            if crawls.stopping:  # a stop came while this source waited for a slot
                return SourceResult.skipped(source.name)
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
        backing_off = await backing_off_until(crawls.services.storage, source)
        if backing_off is not None:
            logger.debug("source backing off: source=%s until=%s", source.name, backing_off)
            return SourceResult.skipped(source.name)
    result: SourceResult | None = None
    crash: str | None = None
    try:
        crawl = SourceCrawl(
            source.name,
            crawls.config,
            crawls.services,
            crawls.relay.settings,
            options,
            on_progress,
        )
        result = await crawls.relay.run(crawl)
    except RelayClosed:  # stopped before its run started: nothing was done, nothing recorded
        result = SourceResult(source.name, None, "interrupted", RunCounters(), [], 0.0)
        _log_summary(result, options.worker)
        return result
    except Exception as exc:  # one source blowing up must not take the others down
        crash = f"{type(exc).__name__}: {exc}"
        logger.exception("crawl crashed: source=%s", source.name)
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
    _log_summary(result, options.worker)
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


def _log_summary(result: SourceResult, worker: str | None) -> None:
    metrics.run_ended(result)
    fields = result.summary()
    if worker is not None:
        fields["worker"] = worker
    level = logging.INFO if result.status == "ok" else logging.WARNING
    message = "crawl finished" if result.status == "ok" else f"crawl {result.status}"
    if result.status != "ok" and result.errors:
        message += f": {result.errors[0]}"
    logger.log(level, message, extra=fields)


def run_crawls(
    config: Config,
    services: Services,
    sources: Sequence[SourceConfig],
    *,
    options: CrawlOptions | None = None,
    on_progress: ProgressCallback | None = None,
) -> list[SourceResult]:
    """Blocking: run the reactor until every source's crawl has ended.

    The first SIGINT/SIGTERM closes the crawls gracefully (their runs are recorded as
    interrupted); a second one stops at once.
    """
    closed = mark_abandoned_runs(services.db)
    if closed:
        logger.warning("closed %d runs left open by a process that died", closed)
    crawls = Crawls.create(config, services)
    # What exists now (modules, config, settings) lives as long as the crawl: see gc_policy.
    with settled(CRAWL_GC_THRESHOLDS):
        results = run_in_reactor(
            _crawl_and_close(crawls, sources, options, on_progress),
            on_first_signal=lambda: stop_crawls(crawls),
        )
    _prune_raw_pages(config, services)
    return results


def _prune_raw_pages(config: Config, services: Services) -> None:
    """Once per ``newsrelay crawl``, not per run: the raw pages past storage.keep_raw (the
    daemon prunes them hourly, with the rest of retention). A failure waits for the next."""
    keep = config.storage.keep_raw_delta
    if keep is None:
        return
    try:
        prune_raw_pages(services.db, datetime.now(UTC) - keep)
    except StorageError as exc:
        logger.warning("raw pages not pruned: %s", exc)


async def _crawl_and_close(
    crawls: Crawls,
    sources: Sequence[SourceConfig],
    options: CrawlOptions | None,
    on_progress: ProgressCallback | None,
) -> list[SourceResult]:
    try:
        return await crawl_sources(crawls, sources, options=options, on_progress=on_progress)
    finally:
        await crawls.relay.close()


async def stop_crawls(crawls: Crawls) -> None:
    """Close every crawl of ``crawls`` now; their runs are recorded as interrupted, and
    sources still waiting for a crawl slot do not start.

    Scrapy's own stop waits for each download in flight to finish or time out (a server that
    never answers holds it for ``fetch.timeout``): those downloads are cancelled instead.
    """
    crawls.stopping = True
    await crawls.relay.stop()
