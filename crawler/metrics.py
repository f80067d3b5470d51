"""Prometheus metrics counted in this process as runs end and fetches fail (they start at zero
with the process); what must survive a restart is read from the database at scrape time
(``console.metrics``)."""

from __future__ import annotations

import re
from typing import Protocol

from prometheus_client import Counter, Histogram

from storage.records import RunCounters


class EndedRun(Protocol):
    """What a run's end tells (crawler.source_run.SourceResult)."""

    @property
    def source(self) -> str: ...
    @property
    def status(self) -> str: ...
    @property
    def counters(self) -> RunCounters: ...
    @property
    def run_id(self) -> int | None: ...
    @property
    def duration_s(self) -> float: ...


RUNS = Counter("newsrelay_runs", "Source runs ended, by status.", ["source", "status"])
STORED = Counter("newsrelay_articles_stored", "Articles stored (new stories).", ["source"])
FILTERED = Counter("newsrelay_entries_filtered", "Entries an editorial filter dropped.", ["source"])
DUPLICATES = Counter(
    "newsrelay_duplicates", "Copies recognised as a stored story, by kind.", ["source", "kind"]
)
FETCH_FAILURES = Counter(
    "newsrelay_fetch_failures",
    "Failed fetches and pages, by kind of failure.",
    ["source", "reason"],
)
RUN_DURATION = Histogram(
    "newsrelay_run_duration_seconds",
    "How long source runs take.",
    ["source"],
    buckets=(0.5, 1, 2, 5, 10, 30, 60, 120, 300, 900, 1800),
)

_CLASSES = (
    ("timeout", re.compile(r"timed? ?out|took longer", re.I)),
    ("dns", re.compile(r"\bDNS\b|resolve", re.I)),
    ("refused", re.compile(r"refused|private|not allowed|robots", re.I)),
    ("http_5xx", re.compile(r"\b5\d\d\b")),
    ("http_4xx", re.compile(r"\b4\d\d\b")),
    ("connection", re.compile(r"connection|lost|reset", re.I)),
    ("no_text", re.compile(r"no article text|empty", re.I)),
    ("parse", re.compile(r"not a feed|not XML|parse|malformed", re.I)),
)


def failure_reason(reason: str) -> str:
    """A failure's reason as one of a few labels (free text would be unbounded)."""
    for label, pattern in _CLASSES:
        if pattern.search(reason):
            return label
    return "other"


def fetch_failed(source: str, kind: str, reason: str) -> None:
    FETCH_FAILURES.labels(source, f"{kind}_{failure_reason(reason)}").inc()


def run_ended(result: EndedRun) -> None:
    """Count a run's end (skipped runs count too: their status says so)."""
    RUNS.labels(result.source, result.status).inc()
    counters = result.counters
    if counters.new:
        STORED.labels(result.source).inc(counters.new)
    if counters.filtered:
        FILTERED.labels(result.source).inc(counters.filtered)
    for kind in ("url", "guid", "url_id", "content", "near"):
        found = getattr(counters, f"duplicates_{kind}")
        if found:
            DUPLICATES.labels(result.source, kind).inc(found)
    if result.run_id is not None:
        RUN_DURATION.labels(result.source).observe(result.duration_s)
