"""The state of one crawl of one source, shared by its spider and pipeline."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from crawler.config import SourceConfig
from storage.db import Database
from storage.repository import RunCounters, SaveOutcome, SourceIds, finish_run, start_run

logger = logging.getLogger(__name__)

MAX_ERRORS_KEPT = 20


@dataclass(frozen=True)
class SourceResult:
    """How one source's crawl went: what the summary table and the exit code are made of."""

    source: str
    run_id: int | None
    status: str  # ok | failed | interrupted
    counters: RunCounters
    errors: list[str]
    duration_s: float

    @property
    def duplicates(self) -> int:
        return self.counters.duplicates

    @property
    def failed(self) -> int:
        return self.counters.feeds_failed + self.counters.pages_failed


ProgressCallback = Callable[[str, RunCounters], None]


@dataclass
class CrawlContext:
    """Opened when the spider starts, closed once when it finishes."""

    source: SourceConfig
    db: Database
    on_progress: ProgressCallback | None = None
    ids: SourceIds | None = None
    run_id: int | None = None
    counters: RunCounters = field(default_factory=RunCounters)
    errors: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    result: SourceResult | None = None
    fatal: str | None = None

    def open(self, ids: SourceIds) -> None:
        self.ids = ids
        self.run_id = start_run(self.db, ids.source_id)
        self.started = time.monotonic()

    def error(self, message: str) -> None:
        """Keep a reason for the summary (the first few; the log has them all)."""
        if len(self.errors) < MAX_ERRORS_KEPT:
            self.errors.append(message)

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

    def close(self, reason: str) -> SourceResult:
        """Record the run's end in the database; idempotent."""
        if self.result is not None:
            return self.result
        if reason == "shutdown":
            status = "interrupted"
        elif self.fatal or self.counters.feeds_failed or reason != "finished":
            status = "failed"
        else:
            status = "ok"
        if reason not in ("finished", "shutdown") and not self.fatal:
            self.error(f"crawl closed early: {reason}")
        if self.run_id is not None:
            finish_run(self.db, self.run_id, status, self.counters, "; ".join(self.errors) or None)
        self.result = SourceResult(
            source=self.source.name,
            run_id=self.run_id,
            status=status,
            counters=self.counters,
            errors=list(self.errors),
            duration_s=round(time.monotonic() - self.started, 3),
        )
        return self.result
