"""CPU-bound page work (decoding, extraction, dedup keys) in a process pool.

Scrapy runs on one thread; trafilatura takes 2-4 ms for a typical page and up to ~70 ms for
a large one. Run inline, extraction would cap a crawl at one core; in a pool sized to the
machine, the reactor thread keeps downloading while the other cores extract. Everything
sent to the pool lives in this importable module (a pool cannot run ``__main__`` code).
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any, TypeVar

from w3lib.encoding import html_to_unicode

from crawler.config import ExtractRules
from crawler.extract import Extracted, extract_article, html_text
from crawler.feeds import ParsedFeed, parse_feed
from crawler.fingerprints import TextKeys, text_keys
from storage.sanitize import clean_html

logger = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True)
class Page:
    """An article page after extraction, with its dedup keys."""

    extracted: Extracted
    text: str
    html: str
    keys: TextKeys | None  # None when the page has no text


def process_page(
    body: bytes,
    content_type: str | None,
    url: str,
    feed_html: str | None = None,
    near_keys: bool = True,
    rules: ExtractRules | None = None,
) -> Page:
    """Decode (HTTP header, BOM, then ``<meta charset>``, like Scrapy), extract, compute keys.

    A page with no extractable text falls back to the feed entry's own content.
    """
    _, html = html_to_unicode(content_type, body)
    extracted = extract_article(html, url, rules)
    text, body_html = extracted.text, extracted.html
    if not text and feed_html:
        body_html = clean_html(feed_html)
        text = html_text(body_html)
    if not text:
        return Page(extracted, "", "", None)
    keys = text_keys(text)
    if not near_keys:
        keys = TextKeys(keys.content_hash, None)
    return Page(extracted, text, body_html, keys)


def process_feed(body: bytes, url: str, content_type: str | None) -> ParsedFeed:
    return parse_feed(body, url, content_type)


def run_calls(calls: list[tuple[Callable[..., Any], tuple[Any, ...]]]) -> list[tuple[bool, Any]]:
    """Several calls in one round trip to a worker: (True, result) or (False, exception) each."""
    results: list[tuple[bool, Any]] = []
    for function, args in calls:
        try:
            results.append((True, function(*args)))
        except Exception as exc:  # goes back to that call's caller, as the pool would send it
            results.append((False, exc))
    return results


def _die_with(parent: int) -> None:
    """Worker initializer: end this worker when ``parent`` (the crawler) dies.

    A forked worker inherits the pool's pipe ends, so the crawler's death (SIGKILL) closes
    none of them: the worker would wait on its task queue for ever. Linux kills it along
    with its parent instead (``PR_SET_PDEATHSIG``); the check after it covers a parent that
    died before the call.
    """
    with contextlib.suppress(OSError, AttributeError):  # not Linux
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # 1: PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(1)


def _watch_crawler(crawler: int) -> None:
    """Forkserver worker initializer: end this worker when ``crawler`` dies.

    A forkserver worker is the forkserver's child, so ``PR_SET_PDEATHSIG`` would watch the
    wrong process; and it holds the forkserver's "alive" pipe, so after a ``kill -9`` of the
    crawler the worker waits for tasks for ever and keeps the forkserver up too (seen: both
    still there an hour after the test that killed their daemon). A thread checks instead.
    """

    def watch() -> None:
        while True:
            time.sleep(WATCH_INTERVAL_S)
            try:
                os.kill(crawler, 0)
            except (ProcessLookupError, PermissionError):  # gone (or its pid reused)
                os._exit(1)

    threading.Thread(target=watch, name="watch-crawler", daemon=True).start()


WATCH_INTERVAL_S = 2.0

_Call = tuple[Callable[..., Any], tuple[Any, ...], "asyncio.Future[Any]"]


class Pool:
    """A process pool for page work, or inline execution when ``processes`` is 0.

    The pool starts only once a crawl has asked for ``START_AFTER`` pages (a small crawl is
    over before workers would have finished importing), and in a background thread, since
    starting forkserver workers blocks for a second or two. Until they are up, work runs
    inline; then it moves to the pool.

    Calls go to the workers in batches: one as soon as a worker is idle, otherwise up to
    ``BATCH_SIZE`` together. Each round trip costs the reactor thread a submit, a wake-up of
    the executor's manager thread and a callback; batching pays that once for several pages.
    """

    START_AFTER = 40
    BATCH_SIZE = 8

    def __init__(self, processes: int | None) -> None:
        self.processes = (os.cpu_count() or 1) if processes is None else processes
        self._executor: Executor | None = None
        self._warming: list[Future[int]] = []
        self._starter: threading.Thread | None = None
        self._demand = 0
        self._pending: list[_Call] = []
        self._in_flight = 0  # batches submitted and not finished

    def expect(self, pages: int) -> None:
        """Pages about to be processed: start the pool when there are enough of them."""
        self._demand += pages
        if self._demand >= self.START_AFTER:
            self.start()

    def start(self) -> None:
        """Start the workers in the background (idempotent)."""
        if self.processes == 0 or self._starter is not None or self._executor is not None:
            return
        self._starter = threading.Thread(target=self._start, name="pool-start", daemon=True)
        self._starter.start()

    def start_now(self) -> None:
        """Start the workers at once, before the reactor runs (idempotent).

        While this process runs no other thread, the workers are forked from it: they start
        with every module imported, in milliseconds, where forkserver workers import them
        again (~0.7 s of CPU) and are ready only after a second or two, a time in which the
        feeds and first pages are parsed on the reactor thread. With threads running,
        forking is unsafe: the workers start in the background from a forkserver instead.
        """
        if self.processes == 0 or self._starter is not None or self._executor is not None:
            return
        if threading.active_count() > 1 or "fork" not in multiprocessing.get_all_start_methods():
            self.start()
            return
        context = multiprocessing.get_context("fork")
        executor = ProcessPoolExecutor(
            self.processes, mp_context=context, initializer=_die_with, initargs=(os.getpid(),)
        )
        # The first submit forks every worker, before the executor starts its own threads.
        self._warming = [executor.submit(os.getpid) for _ in range(self.processes)]
        self._executor = executor

    def _start(self) -> None:
        # forkserver: forking a process that runs a reactor and threads is unsafe.
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["crawler.workers"])
        executor = ProcessPoolExecutor(
            self.processes,
            mp_context=context,
            initializer=_watch_crawler,
            initargs=(os.getpid(),),
        )
        self._warming = [executor.submit(os.getpid) for _ in range(self.processes)]
        self._executor = executor

    @property
    def ready(self) -> bool:
        return self._executor is not None and all(f.done() for f in self._warming)

    async def run(self, function: Callable[..., R], *args: Any) -> R:
        """``function(*args)`` in a worker process once the pool is up, else inline."""
        if not self.ready:
            return function(*args)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append((function, args, future))
        if self._in_flight < self.processes or len(self._pending) >= self.BATCH_SIZE:
            self._submit(loop)
        return await future

    def _submit(self, loop: asyncio.AbstractEventLoop) -> None:
        calls = self._pending[: self.BATCH_SIZE]
        del self._pending[: self.BATCH_SIZE]
        if self._executor is None:  # shut down meanwhile
            for _, _, future in calls:
                future.cancel()
            return
        self._in_flight += 1
        batch = loop.run_in_executor(
            self._executor, run_calls, [(function, args) for function, args, _ in calls]
        )
        batch.add_done_callback(lambda done: self._finished(loop, calls, done))

    def _finished(
        self,
        loop: asyncio.AbstractEventLoop,
        calls: list[_Call],
        batch: asyncio.Future[list[tuple[bool, Any]]],
    ) -> None:
        self._in_flight -= 1
        failure = None if batch.cancelled() else batch.exception()  # e.g. BrokenProcessPool
        for index, (_, _, future) in enumerate(calls):
            if future.done():  # its caller was cancelled
                continue
            if batch.cancelled():
                future.cancel()
            elif failure is not None:
                future.set_exception(failure)
            else:
                ok, value = batch.result()[index]
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)
        if self._pending and self._in_flight < self.processes:
            self._submit(loop)

    def shutdown(self) -> None:
        if self._starter is not None:
            self._starter.join()
            self._starter = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None
