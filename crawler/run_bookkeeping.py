"""A run's record in the database, written as late and as seldom as it can be.

The source's ids, feed states and health come from what this process knows
(:mod:`crawler.source_states`); a feed's 304 or failure waits in memory for the run's end;
the run's row is made early only when something changes: a feed answers 200 (its new
validators are never written without the row), an entry is followed or filtered (stored
under the run's id). Otherwise the row is inserted, finished, at the run's end. So a poll
where every feed answers 304 writes once: the finished row and the feeds' outcomes, in one
transaction (``storage.run_ends``).

A process killed during such a poll has stored nothing of it, so there is nothing to repair;
one killed after the row was made leaves it ``running``, for ``mark_abandoned_runs`` to close
at the next start (and to make that source's next poll a full read).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from crawler.config import SourceConfig
from crawler.source_states import KnownSource, after_poll, forgotten
from crawler.storage_thread import StorageThread
from storage.db import StorageError
from storage.records import FeedState, RunCounters, SourceHealth, SourceIds
from storage.run_ends import (
    FeedPoll,
    RunEnd,
    close_run,
    feed_fetched,
    load_source,
    load_sources,
    read_source,
    start_run_row,
)
from storage.runs import adopt_run
from storage.sources import backoff_until

logger = logging.getLogger(__name__)

BACKOFF_CAP = timedelta(hours=24)
BACKOFF_BASE = timedelta(minutes=5)  # for sources without an interval (cron, manual)


@dataclass
class RunBook:
    """The database side of one run of ``source``: opened, written to as things change,
    closed once."""

    source: SourceConfig
    storage: StorageThread
    worker: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    run_id: int | None = None
    known: KnownSource | None = None
    polls: list[FeedPoll] = field(default_factory=list)
    health_read: bool = False  # the source's health was read from the database in this run
    # Held while the run's row may be made: two feeds answering 200 at once each made one,
    # and the row left `running` made the next process forget the source's validators.
    _writing: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def feeds(self) -> tuple[str, ...]:
        return tuple(self.source.feeds)

    async def open(self, queued: int | None) -> SourceIds:
        """The source's ids (read, and its feeds created, on its first run in this process);
        the queued run ``queued`` (the console's "crawl now") becomes this run's row.

        A cluster worker reads the source's state at every run (one query): the source's
        runs go to whichever worker is free, so what it remembers is often another worker's
        past, and a run resent after a dead worker must see the full read it was asked for.
        """
        self.started_at = datetime.now(UTC)
        states, name = self.storage.sources, self.source.name
        known = states.get(name, self.feeds)
        if known is None:
            snapshot = await self.storage.call(load_source, name, list(self.feeds))
        elif self.worker is not None:
            snapshot = await self.storage.call(read_source, known.ids)
        else:
            snapshot = None
        if snapshot is not None:
            known = states.put(name, self.feeds, snapshot)
            self.health_read = True
        assert known is not None
        self.known = known
        if queued is not None:
            self.run_id = await self.storage.call(adopt_run, queued, self.worker)
        return known.ids

    async def feed_states(self, due_only: bool) -> dict[int, FeedState]:
        """The feeds' validators and next-poll bounds. A feed that would be left out as not
        due yet is checked against the database first: another process may have asked for
        it to be read at once."""
        known = self.known
        assert known is not None
        if due_only and not self.health_read and known.not_due(datetime.now(UTC)):
            snapshot = await self.storage.call(read_source, known.ids)
            known = self.known = self.storage.sources.put(self.source.name, self.feeds, snapshot)
            self.health_read = True
        return dict(known.states)

    def polled(self, poll: FeedPoll) -> None:
        """A feed's poll outcome (a 304, a failure), written at the run's end."""
        self.polls.append(poll)

    async def fetched(self, poll: FeedPoll) -> None:
        """A feed answered 200: its new validators are written now, with the run's row."""
        known = self.known
        assert known is not None
        async with self._writing:
            self.run_id = await self.storage.call(
                feed_fetched, poll, known.ids.source_id, self.started_at, self.worker, self.run_id
            )
        known.states[poll.feed_id] = after_poll(known.state(poll.feed_id), poll)

    def not_modified(self, feed_id: int, next_poll_after: datetime | None) -> None:
        """The feed answered 304: written on the condition that its state is still the one
        this run sent (see ``storage.run_ends``)."""
        assert self.known is not None
        expected = self.known.state(feed_id)
        self.polled(FeedPoll(feed_id, 304, next_poll_after=next_poll_after, expected=expected))

    async def row(self) -> int:
        """The run's row, made now if it has none: something is about to be stored under it."""
        async with self._writing:
            if self.run_id is None:
                assert self.known is not None
                self.run_id = await self.storage.call(
                    start_run_row, self.known.ids.source_id, self.started_at, self.worker
                )
        return self.run_id

    async def close(
        self,
        status: str,
        counters: RunCounters,
        error: str | None,
        *,
        revisit: set[int],
        due_now: bool,
    ) -> tuple[SourceHealth, SourceHealth] | None:
        """The run's end, written in one transaction; the source's health before and after
        it (None when the run says nothing about it)."""
        known = self.known
        assert known is not None
        interval = self.source.interval_delta
        judged = status in ("ok", "partial", "failed")
        end = RunEnd(
            source_id=known.ids.source_id,
            feed_ids=list(known.ids.feed_ids.values()),
            run_id=self.run_id,
            started_at=self.started_at,
            worker=self.worker,
            status=status,
            counters=counters,
            error=error,
            polls=list(self.polls),
            revisit=frozenset(revisit),
            due_now=due_now,
            health=known.health,
            health_read=self.health_read,
            decide=(lambda before: next_health(before, status != "failed", interval))
            if judged
            else None,
        )
        try:
            closed = await self.storage.call(close_run, end)
        except StorageError:
            self.storage.sources.forget(self.source.name)  # what was stored is unknown
            raise
        self.run_id = closed.run_id
        self._remember(end, closed.states, closed.after)
        return (closed.before, closed.after) if judged else None

    def _remember(
        self, end: RunEnd, stored: dict[int, FeedState] | None, health: SourceHealth
    ) -> None:
        """What the run's end stored becomes what this process knows."""
        assert self.known is not None
        known = self.known
        known.health = health
        if stored is not None:  # read back: another process had changed something
            known.states = stored
            return
        for poll in end.polls:
            known.states[poll.feed_id] = after_poll(known.state(poll.feed_id), poll)
        for feed_id in end.revisit:
            known.states[feed_id] = forgotten(known.state(feed_id), end.due_now)


async def preload(storage: StorageThread, sources: Sequence[SourceConfig]) -> None:
    """Read what this process does not know yet of ``sources``, all in one call: the daemon's
    start (and ``crawl --all``) then costs a few statements per 500 sources, and each
    source's first poll is as cheap as the next ones. A source whose run read it meanwhile
    keeps what that run knows."""
    known = storage.sources
    feeds = {s.name: tuple(s.feeds) for s in sources if known.get(s.name, tuple(s.feeds)) is None}
    if not feeds:
        return
    snapshots = await storage.call(load_sources, {name: list(f) for name, f in feeds.items()})
    for name, snapshot in snapshots.items():
        if known.get(name, feeds[name]) is None:
            known.put(name, feeds[name], snapshot)


async def backing_off(storage: StorageThread, source: SourceConfig) -> datetime | None:
    """Until when a scheduled run of ``source`` must wait (None: it may run now). "Not
    backing off" is answered from memory; a backoff is checked against the database first
    (a run by another process may have ended it)."""
    now = datetime.now(UTC)
    known = storage.sources.get(source.name, tuple(source.feeds))
    if known is not None and not known.backing_off(now):
        return None
    until = await storage.call(backoff_until, source.name)
    if known is not None and until != known.health.backoff_until:
        storage.sources.forget(source.name)  # read again in full by the run that comes
    return until if until is not None and until > now else None


def log_health(name: str, before: SourceHealth, after: SourceHealth) -> None:
    """Each change of a source's state is logged once, not every failed attempt."""
    if after.consecutive_failures and before.consecutive_failures == 0:
        logger.warning(
            "source failing, backing off: source=%s until=%s",
            name,
            after.backoff_until.isoformat() if after.backoff_until else None,
            extra={"source": name, "consecutive_failures": after.consecutive_failures},
        )
    elif after.consecutive_failures == 0 and before.consecutive_failures:
        logger.warning(
            "source recovered: source=%s after %d failed runs",
            name,
            before.consecutive_failures,
            extra={"source": name},
        )


def next_health(
    before: SourceHealth,
    ok: bool,
    interval: timedelta | None,
    now: datetime | None = None,
    rng: random.Random | None = None,
) -> SourceHealth:
    """After a run: reset on success; else wait interval * 2^(failures-1), +-20 % jitter,
    capped at 24 h, before the next scheduled attempt."""
    if ok:
        return SourceHealth(0, None)
    failures = before.consecutive_failures + 1
    base = interval or BACKOFF_BASE
    delay = min(base * 2 ** (failures - 1), BACKOFF_CAP)
    jitter = (rng or random).uniform(0.8, 1.2)
    delay = min(delay * jitter, BACKOFF_CAP)
    return SourceHealth(failures, (now or datetime.now(UTC)) + delay)
