"""Scrapy's downloader with its per-host concurrency limit enforced, and a way to cancel it.

Copied from Scrapy 2.19.0: ``Downloader._process_queue`` and ``_wait_for_download`` (private).
``tests/test_upstream.py`` compares the upstream source of both, and of ``_slot_gc`` (whose
clock, ``time.monotonic``, ``slot.lastseen`` must be written in), with the version copied:
an upgrade that changes one fails that test until this copy has been checked against it.

Why: Scrapy 2.19 under the asyncio reactor starts each queued download as a task
(``scrapy.utils.defer._schedule_coro``), and a request enters ``slot.transferring`` only when
its task first runs; ``_process_queue`` therefore always sees free transfer slots and starts
the whole queue at once (8 pages with a limit of 2 all arrived within 7 ms). Reserving the slot
before scheduling restores the limit. Nearest upstream report: scrapy/scrapy#6982 ("one slot
takes all CONCURRENT_REQUESTS, even with concurrency 1", open).

It can also cancel what it is downloading. Scrapy's graceful close waits for every download
in flight, which a server that never answers holds for the whole download timeout; a daemon
asked to stop must be quicker than that (see :func:`crawler.crawls.stop_crawls`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from time import monotonic
from typing import Any

from scrapy import Request
from scrapy.core.downloader import Downloader, Slot
from scrapy.crawler import Crawler
from scrapy.http import Response
from scrapy.utils.asyncio import call_later
from twisted.internet.defer import Deferred
from twisted.python.failure import Failure

from crawler.failures import CrawlStopping

# sha256 (first 16 hex digits) of the upstream methods this module depends on, as copied.
UPSTREAM_SOURCES = {
    "_process_queue": "872b81a4bbb4cb1a",
    "_wait_for_download": "35ca6793c8795004",
    "_slot_gc": "fbed0354e58c8cca",
}


class PerHostLimitedDownloader(Downloader):
    def __init__(self, crawler: Crawler) -> None:
        super().__init__(crawler)
        self._tasks: dict[asyncio.Task[Any], Request] = {}

    def cancel_downloads(self, which: Callable[[Request], bool] = lambda request: True) -> None:
        """Fail the queued and in-flight downloads of the requests ``which`` selects (all, by
        default) with :class:`CrawlStopping`, now."""
        for slot in self.slots.values():
            self._drop_queue(slot, which)
        for task, request in list(self._tasks.items()):
            if which(request):
                task.cancel()

    def _drop_queue(self, slot: Slot, which: Callable[[Request], bool]) -> None:
        kept = []
        while slot.queue:
            request, queue_dfd = slot.queue.popleft()
            if which(request):
                queue_dfd.errback(CrawlStopping("the crawl is stopping"))
            else:
                kept.append((request, queue_dfd))
        slot.queue.extend(kept)

    def _process_queue(self, slot: Slot) -> None:
        if slot.latercall:
            return
        now = monotonic()
        delay = slot.download_delay()
        if delay:
            penalty = delay - now + slot.lastseen
            if penalty > 0:
                slot.latercall = call_later(penalty, self._latercall, slot)
                return
        while slot.queue and slot.free_transfer_slots() > 0:
            slot.lastseen = now
            request, queue_dfd = slot.queue.popleft()
            slot.transferring.add(request)  # reserved now; _download adds it again (a no-op)
            task = asyncio.ensure_future(self._wait_for_download(slot, request, queue_dfd))
            self._tasks[task] = request
            task.add_done_callback(self._forget)
            if delay:  # no burst when an inter-request delay is configured
                self._process_queue(slot)
                break

    def _forget(self, task: asyncio.Task[Any]) -> None:
        self._tasks.pop(task, None)

    async def _wait_for_download(
        self, slot: Slot, request: Request, queue_dfd: Deferred[Response]
    ) -> None:
        try:
            response = await self._download(slot, request)
        except asyncio.CancelledError:  # cancel_downloads(): the engine still gets an answer
            queue_dfd.errback(CrawlStopping("the crawl is stopping"))
        except Exception:
            queue_dfd.errback(Failure())  # type: ignore[no-untyped-call]
        else:
            queue_dfd.callback(response)
