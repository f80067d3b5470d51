"""The plain records that cross storage's boundary: what the crawler hands in, and what the
CLI and the crawler get back. No ORM object leaves ``storage/``; these are what does.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

SaveOutcome = Literal[
    "new",
    "duplicate_url",
    "duplicate_guid",
    "duplicate_url_id",
    "duplicate_content",
    "duplicate_near",
    "revised",  # a stored article's corrected text, its new revision (storage.revisions)
    "unchanged",  # a stored article fetched again as a correction, its text unchanged
]


class NearProbe(Protocol):
    """An article's near-duplicate keys (see crawler.fingerprints.NearKeys)."""

    @property
    def bands(self) -> tuple[int, ...]: ...

    def similarity(self, other_text: str) -> float: ...


@dataclass(frozen=True)
class SourceIds:
    source_id: int
    feed_ids: dict[str, int]


@dataclass(frozen=True)
class FeedState:
    """What was learnt about a feed on the last fetch."""

    etag: str | None = None
    last_modified: str | None = None
    next_poll_after: datetime | None = None


@dataclass(frozen=True)
class SourceHealth:
    consecutive_failures: int = 0
    backoff_until: datetime | None = None


@dataclass(frozen=True)
class FetchedPage:
    """An article's page as fetched, kept for ``newsrelay reextract`` (``storage.raw_pages``),
    with what its feed entry said that extraction uses."""

    url: str
    content_type: str | None
    body: bytes
    fetched_at: datetime
    entry_title: str | None = None
    entry_language: str | None = None
    entry_image: str | None = None


@dataclass(frozen=True)
class KeptPage:
    """A kept raw page, with the article it made."""

    article_id: int
    source_id: int
    source: str
    article_url: str
    page: FetchedPage


@dataclass(frozen=True)
class ArticleRecord:
    """An extracted article on its way into the database. URLs are canonical."""

    source_id: int
    url: str
    original_url: str
    title: str
    text: str
    html: str
    content_hash: str
    fetched_at: datetime
    page_canonical_url: str | None = None
    guid: str | None = None
    feed_id: int | None = None
    run_id: int | None = None
    author: str | None = None
    language: str | None = None
    language_source: str | None = None  # declared | detected (crawler.language); None: unknown
    published_at: datetime | None = None
    url_id: str | None = None  # the id captured by the source's url_id_pattern
    near: NearProbe | None = None
    # The lead image: an absolute http(s) URL, and the page's caption and credit for it.
    image: str | None = None
    image_caption: str | None = None
    image_credit: str | None = None
    image_path: str | None = None  # the kept file, relative to [images] directory
    # The destinations whose delivery queue a new article enters (not its later copies).
    destinations: tuple[str, ...] = ()
    # Fingerprints of its page's paragraphs, counted into its source's template
    # (storage.templates) with the batch; empty when the source learns none.
    paragraphs: tuple[int, ...] = ()
    entry_updated_at: datetime | None = None  # the entry's updated time (a correction's cue)
    # A stored article fetched again because its entry was updated: this record is its new
    # text, saved as a revision of it (storage.revisions), never as a new article.
    revision_of: int | None = None
    raw: FetchedPage | None = None  # its page, to keep (storage.keep_raw; None: not kept)

    def addresses(self) -> list[str]:
        """The canonical addresses of this copy, its own URL first."""
        urls = [self.url]
        if self.page_canonical_url and self.page_canonical_url != self.url:
            urls.append(self.page_canonical_url)
        return urls

    def identity_keys(self) -> list[tuple[str, str]]:
        """(kind, key) identities that hold within the source: feed GUID, URL id."""
        keys = []
        if self.guid:
            keys.append(("guid", f"{self.source_id}:{self.guid}"))
        if self.url_id:
            keys.append(("url_id", f"{self.source_id}:{self.url_id}"))
        return keys


@dataclass(frozen=True)
class ParagraphSeen:
    """A paragraph fingerprint of a source's template: on how many pages, when last."""

    pages: int
    last_seen: datetime


@dataclass(frozen=True)
class SaveResult:
    outcome: SaveOutcome
    article_id: int  # a tombstone's match: the deleted article's id
    similarity: float | None = None
    # The tombstone of a deleted article (storage.tombstones) that the story matched.
    tombstone: int | None = None


@dataclass
class RunCounters:
    feeds_fetched: int = 0
    feeds_failed: int = 0
    entries_seen: int = 0
    known_skipped: int = 0
    pages_fetched: int = 0
    pages_failed: int = 0
    new: int = 0
    duplicates_url: int = 0
    duplicates_guid: int = 0
    duplicates_url_id: int = 0
    duplicates_content: int = 0
    duplicates_near: int = 0
    feeds_not_modified: int = 0
    feeds_not_due: int = 0
    pages_extracted: int = 0  # pages that reached extraction
    pages_thin: int = 0  # ... whose own body was empty or tiny (a redesign looks like this)
    filtered: int = 0  # entries an editorial filter dropped (before or after the fetch)
    revised: int = 0  # stored articles fetched again whose text changed: a new revision

    @property
    def duplicates(self) -> int:
        return (
            self.duplicates_url
            + self.duplicates_guid
            + self.duplicates_url_id
            + self.duplicates_content
            + self.duplicates_near
        )

    def count(self, outcome: SaveOutcome) -> None:
        if outcome == "new":
            self.new += 1
        elif outcome == "revised":
            self.revised += 1
        elif outcome != "unchanged":
            field_name = "duplicates_" + outcome.removeprefix("duplicate_")
            setattr(self, field_name, getattr(self, field_name) + 1)


@dataclass(frozen=True)
class StoredArticle:
    """An article as exported: the row plus every address it is known by."""

    id: int
    source: str
    url: str
    urls: list[str]
    original_url: str
    page_canonical_url: str | None
    guid: str | None
    title: str
    author: str | None
    language: str | None
    published_at: datetime | None
    fetched_at: datetime
    text: str
    html: str
    content_hash: str
    language_source: str | None = None  # declared | detected; None: no language known
    # Later copies: {"url", "kind", "similarity"} (similarity only for near-duplicates).
    duplicates: list[dict[str, Any]] = field(default_factory=list)
    image: str | None = None  # the lead image's URL (absolute, http or https)
    image_caption: str | None = None
    image_credit: str | None = None
    image_path: str | None = None  # the kept file, relative to [images] directory
    revision: int = 1  # 1: the first text; more after corrections (storage.revisions)
    updated_at: datetime | None = None  # when the latest revision was stored (None: rev. 1)
    # Revision 1's content hash: the Atom entry's id, the same through corrections.
    first_content_hash: str | None = None


@dataclass(frozen=True)
class EntryIdentity:
    """What identifies a feed entry before its page is fetched: its canonical URL, and the
    feed GUID and URL id that identify a story within its source."""

    url: str
    guid: str | None = None
    url_id: str | None = None


@dataclass(frozen=True)
class RunRecord:
    """One row of ``crawl_runs``: a crawl of one source."""

    id: int
    source_id: int
    started_at: datetime
    finished_at: datetime | None
    status: str  # running | ok | failed | interrupted
    error: str | None
    host: str | None
    pid: int | None
    counters: RunCounters


@dataclass(frozen=True)
class DaemonRecord:
    """The daemon's row: who runs (or last ran) on this database, and its heartbeat."""

    host: str
    pid: int
    version: str
    config_path: str | None
    started_at: datetime
    heartbeat_at: datetime
    stopped_at: datetime | None

    def is_alive(self, heartbeat_every: timedelta, now: datetime) -> bool:
        """It has not recorded its stop and beat within three heartbeats."""
        return self.stopped_at is None and now - self.heartbeat_at <= 3 * heartbeat_every


@dataclass(frozen=True)
class SourceStatus:
    """A stored source's health, next run and latest run."""

    name: str
    consecutive_failures: int
    backoff_until: datetime | None
    next_run_at: datetime | None
    last_run: RunRecord | None
    last_success_at: datetime | None = None  # when its latest ok run finished
    last_finished: RunRecord | None = None  # its latest run that has ended


COUNTER_NAMES = tuple(f.name for f in fields(RunCounters))


def counters_of(row: Any) -> RunCounters:
    """The counters of a ``crawl_runs`` row (None columns count as 0)."""
    return RunCounters(**{name: getattr(row, name) or 0 for name in COUNTER_NAMES})


@dataclass(frozen=True)
class Selection:
    """Which articles an export takes."""

    source: str | None = None
    since: datetime | None = None  # fetched at or after
    unpublished: bool = False  # not yet handed out by --mark-published
