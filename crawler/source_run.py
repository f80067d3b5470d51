"""One run of one source: its counters and failures while it crawls, and what its end means:
the run's record, and exponential backoff while the source keeps failing.

Every failure of a run (a feed, sitemap or listing page, an article page, an unusable entry)
goes through :meth:`SourceRun.failed`: counted, logged once, kept for the summary, recorded.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from crawler import metrics
from crawler.config import SourceConfig
from crawler.run_bookkeeping import RunBook, log_health
from crawler.storage_thread import StorageThread
from crawler.templates import SourceTemplate
from crawler.urls import mask_secrets
from storage.articles import known_entries
from storage.db import StorageError
from storage.filtered import record_filtered
from storage.records import EntryIdentity, FeedState, RunCounters, SaveOutcome, SourceIds
from storage.run_ends import FeedPoll

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 20

# Pages being fetched right now by any crawl in this process: two sources listing the same
# story fetch it once. (Across processes the database's unique constraints still decide.)
_IN_FLIGHT: set[str] = set()

# What failed: a start point (a feed, sitemap or listing page), an article page, or an entry
# whose link cannot be fetched at all.
FailureKind = Literal["feed", "sitemap", "listing", "page", "entry"]
START_POINTS = ("feed", "sitemap", "listing")


@dataclass(frozen=True)
class CrawlOptions:
    refetch: bool = False  # fetch pages and feeds even when already stored / not modified
    due_only: bool = False  # skip what is backing off or asked not to be polled yet
    worker: str | None = None  # the cluster worker running it (recorded with the run)
    run_id: int | None = None  # a queued run (console's "crawl now") this crawl adopts


@dataclass(frozen=True)
class SourceResult:
    """How one source's crawl went: what the summary table and the exit code are made of."""

    source: str
    run_id: int | None
    # ok | partial (finished, but some pages failed inside newsrelay: retried next poll) |
    # failed | interrupted | skipped
    status: str
    counters: RunCounters
    errors: list[str]
    duration_s: float

    @property
    def duplicates(self) -> int:
        return self.counters.duplicates

    @property
    def failed(self) -> int:
        return self.counters.feeds_failed + self.counters.pages_failed

    @classmethod
    def skipped(cls, source: str) -> SourceResult:
        return cls(source, None, "skipped", RunCounters(), [], 0.0)

    def summary(self) -> dict[str, Any]:
        """The run's figures under stable keys: its summary log record, ``crawl --json``."""
        c = self.counters
        return {
            "source": self.source,
            "run_id": self.run_id,
            "status": self.status,
            "new": c.new,
            "duplicates": self.duplicates,
            "duplicates_url": c.duplicates_url,
            "duplicates_guid": c.duplicates_guid,
            "duplicates_url_id": c.duplicates_url_id,
            "duplicates_content": c.duplicates_content,
            "duplicates_near": c.duplicates_near,
            "known": c.known_skipped,
            "errors": self.failed,
            "feeds_fetched": c.feeds_fetched,
            "feeds_not_modified": c.feeds_not_modified,
            "feeds_not_due": c.feeds_not_due,
            "pages_fetched": c.pages_fetched,
            "pages_thin": c.pages_thin,
            "filtered": c.filtered,
            "revised": c.revised,
            "duration_s": self.duration_s,
        }


ProgressCallback = Callable[[str, RunCounters], None]


@dataclass
class SourceRun:
    """Opened when the source's spider starts, closed once when it finishes. Its database
    work goes through ``storage``, the process's storage thread."""

    source: SourceConfig
    storage: StorageThread
    options: CrawlOptions = field(default_factory=CrawlOptions)
    on_progress: ProgressCallback | None = None
    ids: SourceIds | None = None
    run_id: int | None = None
    counters: RunCounters = field(default_factory=RunCounters)
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    result: SourceResult | None = None
    fatal: str | None = None
    internal_errors: int = 0  # failures inside newsrelay (storage, workers), not the site's
    due_now: bool = False  # the feeds to read again may be polled at once
    revisit_feeds: set[int] = field(default_factory=set)  # some pages must be retried
    fetched_feeds: set[int] = field(default_factory=set)  # answered 200 in this run
    claimed: set[str] = field(default_factory=set)
    offsite: Counter[str] = field(default_factory=Counter)  # hosts of links not followed
    template: SourceTemplate = field(default_factory=SourceTemplate)  # none until opened
    # The key of the source's editorial rules (Editing.key): what it filtered under other
    # rules is judged again.
    rules_key: str = ""
    book: RunBook = field(init=False)  # the run's database side

    def __post_init__(self) -> None:
        self.book = RunBook(self.source, self.storage, self.options.worker)

    async def open(self) -> None:
        """The source's ids (its feeds created if new); the run's row only if it was queued
        (see :mod:`crawler.run_bookkeeping`)."""
        self.ids = ids = await self.book.open(self.options.run_id)
        self.run_id = self.book.run_id
        learn = self.source.learn_template  # a refetch applies the template, counts no page
        counts = learn and not self.options.refetch
        self.template = SourceTemplate(self.storage, ids.source_id, learn, counts)
        self.started = time.monotonic()

    async def feed_states(self) -> dict[int, FeedState]:
        """The feeds' validators and next-poll bounds, as this run may use them."""
        return await self.book.feed_states(self.options.due_only)

    async def feed_polled(
        self,
        feed_id: int,
        *,
        status: int,
        validators: FeedState | None = None,
        next_poll_after: datetime | None = None,
    ) -> None:
        """A feed answered: a 304 is written at the run's end; a 200 (``validators``) now,
        with the run's row, as its entries are about to be followed."""
        if status == 304:
            self.book.not_modified(feed_id, next_poll_after)
        else:
            poll = FeedPoll(feed_id, status, validators=validators, next_poll_after=next_poll_after)
            await self.book.fetched(poll)

    async def row(self) -> int:
        """The run's id, its row made now if it has none: something will be stored under it
        (an article, a filtered entry)."""
        self.run_id = await self.book.row()
        return self.run_id

    async def known(self, entries: Sequence[EntryIdentity]) -> set[str]:
        """The URLs of ``entries`` not to fetch: stored already, or dropped by a filter of
        the source (none, for a refetch)."""
        if self.options.refetch or not entries:
            return set()
        assert self.ids is not None
        return await self.storage.call(known_entries, self.ids.source_id, entries, self.rules_key)

    async def filtered(self, dropped: Mapping[str, str]) -> None:
        """Entries an editorial filter dropped (canonical URL -> the rule): counted, logged
        once each with the rule, and recorded, so that no later poll fetches them."""
        if not dropped:
            return
        assert self.ids is not None
        self.counters.filtered += len(dropped)
        name = self.source.name
        for url, rule in dropped.items():
            # The fields only: the text format appends them as key=value on the line.
            logger.info("entry filtered", extra={"source": name, "url": url, "rule": rule})
        run_id = await self.row()
        source_id = self.ids.source_id
        await self.storage.call(record_filtered, source_id, run_id, dropped, self.rules_key)
        self.progress()

    def claim(self, url: str) -> bool:
        """Take ``url`` for this crawl unless another crawl in this process is fetching it."""
        if url in _IN_FLIGHT:
            return False
        _IN_FLIGHT.add(url)
        self.claimed.add(url)
        return True

    def failed(
        self,
        kind: FailureKind,
        url: str,
        reason: str,
        *,
        feed_id: int | None = None,
        retry_feed: bool = False,
        internal: bool = False,
        status: int | None = None,
        next_poll: datetime | None = None,
    ) -> None:
        """One failure: counted, logged once, kept for the summary and recorded.

        A failed start point fails the run; a failed page does not. A failed feed's
        ``status`` and ``next_poll`` bound are recorded with it. ``retry_feed``: the page may
        succeed later, so ``feed_id``'s next poll must read the feed in full. ``internal``:
        the fault is newsrelay's (storage, a worker), so the run cannot be ok.
        """
        self.internal_errors += internal
        if kind in START_POINTS:
            self.counters.feeds_failed += 1
        else:
            self.counters.pages_failed += 1
        self.error(f"{kind} {url}: {reason}")
        if kind == "feed" and feed_id is not None:
            failure = FeedPoll(feed_id, status, error=reason, next_poll_after=next_poll)
            self.book.polled(failure)  # written at the run's end
        if retry_feed and feed_id is not None:
            self.revisit_feeds.add(feed_id)
        logger.warning("%s failed: source=%s url=%s reason=%s", kind, self.source.name, url, reason)
        metrics.fetch_failed(self.source.name, kind, reason)
        self.progress()

    def error(self, message: str) -> None:
        """Keep a reason for the summary (the first few; the log has them all)."""
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(mask_secrets(message))

    def fail(self, message: str) -> None:
        """Something stopped this crawl as a whole (the database, the spider itself)."""
        self.fatal = self.fatal or message
        self.error(message)

    def count_saved(self, outcome: SaveOutcome) -> None:
        self.counters.count(outcome)
        self.progress()

    def progress(self) -> None:
        if self.on_progress is not None:
            self.on_progress(self.source.name, self.counters)

    async def close(self, reason: str) -> SourceResult:
        """Record the run's end in the database; idempotent."""
        if self.result is not None:
            return self.result
        _IN_FLIGHT.difference_update(self.claimed)
        if self.offsite:
            self._log_offsite()
        status = self._status(reason)
        if reason not in ("finished", "shutdown") and not self.fatal:
            self.error(f"crawl closed early: {reason}")
        if reason != "finished" or self.fatal:
            # Stopped before every entry was handled: the next poll must read these feeds in
            # full, and soon, not get a 304 (or wait for the feed's TTL) while the entries this
            # run left wait.
            self.revisit_feeds |= self.fetched_feeds
            self.due_now = True
        try:
            await self._record(status)
        except StorageError as exc:
            status = "failed"
            self.error(f"storage: {exc}")
            logger.error("could not record run: source=%s reason=%s", self.source.name, exc)
        self.result = SourceResult(
            source=self.source.name,
            run_id=self.run_id,
            status=status,
            counters=self.counters,
            errors=list(self.errors),
            duration_s=round(time.monotonic() - self.started, 3),
        )
        return self.result

    def _log_offsite(self) -> None:
        """Once per crawl: how many links pointed outside the source's domains, and where."""
        hosts = ", ".join(host for host, _ in self.offsite.most_common(5))
        if len(self.offsite) > 5:
            hosts += f" (+{len(self.offsite) - 5} more)"
        count = sum(self.offsite.values())
        # INFO: a feed that links elsewhere does so on every poll; a daemon polling it each
        # minute would otherwise repeat a warning nobody has to act on (163 in 806 runs).
        logger.info(
            "links to other sites not followed: source=%s links=%d hosts=%s "
            "(add a domain to the source's allowed_domains to follow its links)",
            self.source.name,
            count,
            hosts,
            extra={"source": self.source.name, "offsite_links": count},
        )

    def _status(self, reason: str) -> str:
        if reason == "shutdown":
            return "interrupted"
        if self.fatal or self.counters.feeds_failed or reason != "finished":
            return "failed"
        return "partial" if self.internal_errors else "ok"

    async def _record(self, status: str) -> None:
        if self.book.known is None:
            return  # never opened: nothing to record
        error = "; ".join(self.errors) or None
        try:
            health = await self.book.close(
                status,
                self.counters,
                error,
                revisit=self.revisit_feeds,
                due_now=self.due_now,
            )
        finally:
            self.run_id = self.book.run_id
        if health is not None:
            log_health(self.source.name, *health)
