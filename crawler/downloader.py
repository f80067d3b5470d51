"""Scrapy's downloader with its per-host concurrency limit actually enforced.

Scrapy 2.19 under the asyncio reactor starts each queued download as a task, and a request
enters ``slot.transferring`` only when its task first runs; ``_process_queue`` therefore
always sees free transfer slots and starts the whole queue at once (8 pages with a limit of
2 all arrived within 7 ms). Reserving the slot before scheduling restores the limit.
This copies a private method: re-check it when upgrading Scrapy.
"""

from __future__ import annotations

from time import monotonic

from scrapy.core.downloader import Downloader, Slot
from scrapy.utils.asyncio import call_later
from scrapy.utils.defer import _schedule_coro


class PerHostLimitedDownloader(Downloader):
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
            _schedule_coro(self._wait_for_download(slot, request, queue_dfd))
            if delay:  # no burst when an inter-request delay is configured
                self._process_queue(slot)
                break
