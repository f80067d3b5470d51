"""What a cluster worker does with one "run this source" message (in a Dramatiq thread).

1. Take the source's lock (one run of a source at a time, across the cluster) and its
   politeness key's lock (one crawl per host key at a time, so ``fetch.concurrency_per_host``
   holds for the cluster). Either busy: the message goes back, unchanged, to run a second or
   two later; its retries are not spent, and its age limit still drops it after an interval.
   A ``crawl --enqueue`` request that finds its source crawling joins that run instead.
2. Holding the source lock, a run of it still marked running belongs to a dead worker: it is
   closed, and this run reads the feeds in full (validators and TTL bound forgotten).
3. A scheduled message whose source has started a run since the message was scheduled is
   served already (a send repeated by a new leader, a redelivery): dropped, writing no row.
4. Crawl on the reactor, as ``newsrelay crawl --due-only`` would; answer the request.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from threading import Event
from typing import Any, Protocol, TypeVar

from crawler.cluster.broker import age_ms, send_again, too_old
from crawler.config import Config, ConfigError, SourceConfig
from crawler.crawls import Crawls, crawl_sources
from crawler.host_keys import host_key
from crawler.services import Services
from crawler.source_run import CrawlOptions
from storage.cluster import close_dead_runs, last_started, request_answered, running_run
from storage.cluster_locks import AdvisoryLocks
from storage.db import StorageError
from storage.runs import close_queued

T = TypeVar("T")

logger = logging.getLogger(__name__)

# A busy source or host key is tried again this long after (ms), spread at random.
BUSY_DELAY_MS = (1_000, 2_000)
# The database or its lock connection is away: try again after this long (ms).
AWAY_DELAY_MS = 5_000


class Worker(Protocol):
    """What a job needs of its worker process (crawler.cluster.worker.ClusterWorker)."""

    config: Config
    services: Services
    name: str
    locks: AdvisoryLocks
    stopping: Event

    def crawl_started(self) -> None: ...

    def crawl_ended(self) -> None: ...


class Reactor(Protocol):
    def call(self, work: Coroutine[Any, Any, T], timeout: float | None = None) -> T: ...


@dataclass(frozen=True)
class Job:
    """One message, read."""

    source: SourceConfig
    scheduled_at: datetime | None  # a scheduled run: any run started since then serves it
    request: str | None  # crawl --enqueue: the request to answer
    options: CrawlOptions
    message: Any  # Dramatiq's, to send again


class Jobs:
    def __init__(self, worker: Worker, reactor: Reactor, crawls: Crawls) -> None:
        self.worker = worker
        self.reactor = reactor
        self.crawls = crawls
        self.broker: Any = None  # set once the broker exists (it needs this handler first)

    def handle(
        self,
        source: str,
        scheduled_at: str | None = None,
        interval_s: float | None = None,
        request: str | None = None,
        refetch: bool = False,
        due_only: bool = True,
        run_id: int | None = None,
    ) -> None:
        """The ``run_source`` actor."""
        from dramatiq.middleware import CurrentMessage

        message = CurrentMessage.get_current_message()
        try:
            config = self.worker.config.source(source)
        except ConfigError as exc:
            logger.error("run dropped: %s", exc, extra={"source": source})
            if request:
                request_answered(self.worker.services.db, request, "failed", None, str(exc))
            if run_id is not None:
                close_queued(self.worker.services.db, run_id, f"not started: {exc}")
            return
        if too_old(message):
            logger.warning(
                "run dropped: source=%s was sent %.0f s ago, more than its interval",
                source,
                age_ms(message) / 1000,
                extra={"source": source, "worker": self.worker.name},
            )
            return
        if self.worker.stopping.is_set():
            self._again(message, 0)
            return
        job = Job(
            config,
            datetime.fromisoformat(scheduled_at) if scheduled_at and interval_s else None,
            request,
            CrawlOptions(
                refetch=refetch, due_only=due_only, worker=self.worker.name, run_id=run_id
            ),
            message,
        )
        try:
            self._locked(job)
        except StorageError as exc:  # the database went away: later, retries not spent
            logger.warning("run postponed: source=%s: %s", source, exc, extra={"source": source})
            self._again(message, AWAY_DELAY_MS)

    def _locked(self, job: Job) -> None:
        locks, source = self.worker.locks, job.source
        key = host_key(source)
        if not locks.try_lock("source", source.name):
            if job.request is not None and self._join_running(source.name, job.request):
                return
            self._again(job.message, _busy_delay())
            return
        try:
            if not locks.try_lock("host", key):
                self._again(job.message, _busy_delay())
                return
            try:
                self._run(job)
            finally:
                locks.unlock("host", key)
        finally:
            locks.unlock("source", source.name)

    def _run(self, job: Job) -> None:
        if self._is_duplicate(job):
            return
        self.worker.crawl_started()
        try:
            [result] = self.reactor.call(
                crawl_sources(self.crawls, [job.source], options=job.options)
            )
        finally:
            self.worker.crawl_ended()
            if job.options.run_id is not None:  # not adopted (a crash first): say so
                close_queued(self.worker.services.db, job.options.run_id, "not started")
        if self.worker.stopping.is_set() and result.status in ("interrupted", "skipped"):
            self._again(job.message, 0)  # back to the queue, for another worker
            return
        if job.request is not None:
            error = "; ".join(result.errors[:3]) or None
            status = "done" if result.run_id is not None else "failed"
            request_answered(self.worker.services.db, job.request, status, result.run_id, error)

    def _is_duplicate(self, job: Job) -> bool:
        """Close the source's run a dead worker left open (this run is then needed); else a
        scheduled run is a duplicate when a run of its source started after it was scheduled.

        Not "finished a run less than half an interval ago": with runs waiting a few seconds
        for their host key, that also dropped the next regular send of a source whose last
        run had started late, leaving it two intervals without a poll."""
        db, name = self.worker.services.db, job.source.name
        dead = close_dead_runs(db, name)
        if dead:
            logger.warning(
                "closed %d runs of source=%s left open by a worker that died: reading its "
                "feeds in full",
                dead,
                name,
                extra={"source": name},
            )
            return False
        if job.request is not None or job.scheduled_at is None:
            return False
        last = last_started(db, name)
        if last is None or last < job.scheduled_at:
            return False
        logger.info(
            "run collapsed: source=%s started a run at %s, after this one was scheduled",
            name,
            last.isoformat(),
            extra={"source": name, "worker": self.worker.name},
        )
        return True

    def _join_running(self, source: str, request: str) -> bool:
        """A requested run of a source now crawling reports that run (no second run)."""
        run_id = running_run(self.worker.services.db, source)
        if run_id is None:  # its lock holder has not opened its run yet
            return False
        request_answered(self.worker.services.db, request, "collapsed", run_id)
        logger.info("requested run joined the run going: source=%s run_id=%d", source, run_id)
        return True

    def _again(self, message: Any, delay_ms: int) -> None:
        send_again(self.broker, message, delay_ms)


def _busy_delay() -> int:
    return random.randint(*BUSY_DELAY_MS)
