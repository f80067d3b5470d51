"""When the scheduler will next run each source, written where the console and ``newsrelay
status`` read it (``sources.next_run_at``): not once per job, but gathered for up to
:data:`GATHER_S` and written in one statement, so the jobs firing within a second of each
other share one write, and a poll's own write stays the only one it makes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime

from storage.db import StorageError

logger = logging.getLogger(__name__)

GATHER_S = 1.0  # how stale a next run shown by the console or `status` may be

Write = Callable[[Mapping[str, datetime | None]], Awaitable[None]]


class NextRuns:
    """Next run times noted by the jobs, written ``GATHER_S`` after the first of them."""

    def __init__(self, write: Write) -> None:
        self._write = write  # set_next_runs, in the storage thread
        self._pending: dict[str, datetime | None] = {}
        self._writing: asyncio.Task[None] | None = None

    def note(self, name: str, when: datetime | None) -> None:
        self._pending[name] = when
        if self._writing is None:
            self._writing = asyncio.ensure_future(self._write_soon())

    async def _write_soon(self) -> None:
        await asyncio.sleep(GATHER_S)
        self._writing = None
        batch, self._pending = self._pending, {}
        try:
            await self._write(batch)
        except StorageError as exc:  # the database is away: the next job's note tries again
            logger.error("next run times not written: %s", exc)
            self._pending = {**batch, **self._pending}

    def drop(self) -> None:
        """Stopping: nothing more is written (the stop clears every next run)."""
        if self._writing is not None:
            self._writing.cancel()
            self._writing = None
        self._pending.clear()
