"""``POST /api/sources/{name}/crawl``: the daemon runs a source now, through the same path
as a scheduled run (``crawler.crawls.crawl_sources`` on the daemon's loop), and answers with
the run's id at once: a ``queued`` row is written first, and the crawl adopts it. A source
already crawling answers with the run going and starts nothing.

The console calls :meth:`ManualRuns.trigger` from its own thread; everything else happens on
the daemon's loop, where checking and registering a run is one step (no await between them),
so two POSTs at once start one run.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol, TypeVar

from console.context import CrawlsOff, UnknownSource
from crawler.config import Config, ConfigError
from crawler.crawls import Crawls, crawl_sources
from crawler.source_run import CrawlOptions
from storage.cluster import running_run
from storage.runs import close_queued, queue_run
from storage.sources import ensure_source

T = TypeVar("T")

logger = logging.getLogger(__name__)

# How long a POST waits for a scheduled run that has started but not yet written its row.
RUN_ROW_WAIT = 10.0


class Daemon(Protocol):
    """What this needs of scheduler.service.Daemon."""

    config: Config
    crawls: Crawls
    stopping: bool
    running: dict[str, asyncio.Task[Any]]

    def store(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> Awaitable[T]: ...

    def stored_something(self) -> None: ...


class ManualRuns:
    def __init__(self, daemon: Daemon, loop: asyncio.AbstractEventLoop) -> None:
        self.daemon = daemon
        self.loop = loop
        self.run_ids: dict[str, asyncio.Future[int]] = {}  # manual runs going: their ids

    def trigger(self, name: str) -> int:
        """From the console's thread: the id of the source's run (new or going)."""
        future = asyncio.run_coroutine_threadsafe(self._start(name), self.loop)
        try:
            return future.result(timeout=RUN_ROW_WAIT + 20)
        except TimeoutError:
            future.cancel()
            raise CrawlsOff("the daemon did not answer in time: try again") from None

    async def _start(self, name: str) -> int:
        daemon = self.daemon
        try:
            source = daemon.config.source(name)
        except ConfigError:
            raise UnknownSource(name) from None
        if daemon.stopping:
            raise CrawlsOff("the daemon is stopping")
        if name in daemon.running:
            known = self.run_ids.get(name)
            return await asyncio.shield(known) if known is not None else await self._going(name)
        run_id: asyncio.Future[int] = self.loop.create_future()
        self.run_ids[name] = run_id
        daemon.running[name] = asyncio.ensure_future(self._run(source.name, source.feeds, run_id))
        return await asyncio.shield(run_id)

    async def _run(self, name: str, feeds: list[str], run_id: asyncio.Future[int]) -> None:
        daemon = self.daemon
        try:
            ids = await daemon.store(ensure_source, name, feeds)
            run_id.set_result(await daemon.store(queue_run, ids.source_id))
            source = daemon.config.source(name)
            options = CrawlOptions(run_id=run_id.result())
            results = await crawl_sources(daemon.crawls, [source], options=options)
            if any(result.counters.new or result.counters.revised for result in results):
                daemon.stored_something()
        except Exception as exc:
            if not run_id.done():  # the POST hears it
                run_id.set_exception(CrawlsOff(f"the run could not be queued: {exc}"))
            else:
                logger.exception("crawl now of source=%s failed", name, extra={"source": name})
        finally:
            daemon.running.pop(name, None)
            self.run_ids.pop(name, None)
            if run_id.done() and not run_id.exception():
                # Not adopted (the daemon stopped, or the source was removed): say so.
                await daemon.store(close_queued, run_id.result(), "not started: the daemon stopped")

    async def _going(self, name: str) -> int:
        """The id of a scheduled run going (its row may be a moment away)."""
        deadline = self.loop.time() + RUN_ROW_WAIT
        while True:
            found = await self.daemon.store(running_run, name)
            if found is not None or self.loop.time() > deadline:
                break
            await asyncio.sleep(0.1)
        if found is None:
            raise CrawlsOff(f"source {name} is between runs: try again")
        return found
