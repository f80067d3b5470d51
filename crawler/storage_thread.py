"""Every database call of the crawls, in one thread of its own: the crawl loop never waits
for the database.

SQLite lets one writer at a time, and waits up to its busy timeout (30 s) for the lock; on
the reactor's thread, a write waiting behind another process (an ``export --mark-published``
of a large file, a backup) froze every download, extraction and the daemon's heartbeat. Here
the calls queue for one storage thread, in order; a call refused because the database is
busy is tried again until it goes through, so nothing is lost; and while ``MAX_QUEUED``
calls wait, whoever asks for one more waits too: the crawls slow down instead of piling up
work in memory.
"""

from __future__ import annotations

import asyncio
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from crawler.source_states import SourceStates
from storage.db import Database, DatabaseBusy

logger = logging.getLogger(__name__)
P = ParamSpec("P")
T = TypeVar("T")

_STOP = object()


class StorageThread:
    """Runs ``function(db, ...)`` calls one after the other in a thread of its own."""

    MAX_QUEUED = 64
    RETRY_WAIT_S = (0.5, 1.0, 2.0, 5.0)  # between attempts on a busy database, then 5 s

    def __init__(self, db: Database) -> None:
        self.db = db
        # What the calls made through this thread stored of each source, remembered so that
        # a poll that changes nothing need not read it again (see crawler.source_states).
        self.sources = SourceStates()
        self._calls: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._room: asyncio.Semaphore | None = None  # created on the loop that uses it
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="newsrelay-storage", daemon=True)
        self._thread.start()

    async def call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``function(db, *args, **kwargs)`` in the storage thread; its result or exception."""
        if self._room is None:
            self._room = asyncio.Semaphore(self.MAX_QUEUED)
        async with self._room:
            future = self.submit(function, *args, **kwargs)
            return await future

    def submit(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> asyncio.Future[T]:
        """Queue the call without waiting for room (for the rare writes made where nothing
        can wait: a failure recorded from an errback); calls run in the order queued."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._calls.put((loop, future, function, args, kwargs))
        return future

    def close(self, timeout: float = 30.0) -> None:
        """Run what is queued, then end the thread (at most ``timeout`` seconds)."""
        self._stopping.set()
        self._calls.put(_STOP)
        self._thread.join(timeout)
        if self._thread.is_alive():
            logger.warning(
                "writes still waiting for the database after %.0f s: left unwritten (open runs "
                "are marked interrupted at the next start)",
                timeout,
            )

    def _serve(self) -> None:
        while True:
            item = self._calls.get()
            if item is _STOP:
                return
            loop, future, function, args, kwargs = item
            try:
                outcome, ok = self._run(function, args, kwargs), True
            except BaseException as exc:  # goes back to the caller
                outcome, ok = exc, False
            if not loop.is_closed():
                loop.call_soon_threadsafe(_settle, future, ok, outcome)

    def _run(self, function: Callable[..., Any], args: Any, kwargs: Any) -> Any:
        """The call, tried again while the database is busy (another writer holds it)."""
        attempt = 0
        while True:
            try:
                return function(self.db, *args, **kwargs)
            except DatabaseBusy as exc:
                if self._stopping.is_set():
                    raise
                wait = self.RETRY_WAIT_S[min(attempt, len(self.RETRY_WAIT_S) - 1)]
                if attempt == 0:
                    logger.warning(
                        "database busy, writes wait: %s (%s; trying again)",
                        getattr(function, "__name__", function),
                        exc,
                    )
                attempt += 1
                time.sleep(wait)


def _settle(future: asyncio.Future[Any], ok: bool, outcome: Any) -> None:
    if future.done():  # its caller was cancelled
        return
    if ok:
        future.set_result(outcome)
    else:
        future.set_exception(outcome)
