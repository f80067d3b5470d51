"""Tables: sources, feeds, articles, article_urls (every address of an article), crawl_runs,
filtered_entries, source_templates, and the tombstones of articles retention deleted (an
article's earlier revisions and raw page: ``storage.history_models``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# Stable constraint names, so Alembic migrations can refer to them on every backend.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every backend (SQLite keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Source(Base):
    __tablename__ = "sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Failed runs in a row, and when scheduled runs may try again (exponential backoff).
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    backoff_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # When the daemon will run this source next (None: not scheduled by a running daemon).
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Feed(Base):
    __tablename__ = "feeds"
    __table_args__ = (UniqueConstraint("source_id", "url", name="uq_feeds_source_id_url"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)
    # HTTP validators of the last 200 response, sent back as a conditional GET.
    etag: Mapped[str | None] = mapped_column(Text)
    last_modified: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_fetched_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # Lower bound on the next scheduled poll: the feed's TTL, Cache-Control max-age, Retry-After.
    next_poll_after: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Article(Base):
    __tablename__ = "articles"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id"))
    feed_id: Mapped[int | None] = mapped_column(ForeignKey("feeds.id", ondelete="SET NULL"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id", ondelete="SET NULL"))
    # Canonical URL of the first copy stored; unique, so a story is stored once per address.
    url: Mapped[str] = mapped_column(Text, unique=True)
    original_url: Mapped[str] = mapped_column(Text)
    page_canonical_url: Mapped[str | None] = mapped_column(Text)
    guid: Mapped[str | None] = mapped_column(Text)
    title: Mapped[str] = mapped_column(Text, default="")
    author: Mapped[str | None] = mapped_column(Text)
    language: Mapped[str | None] = mapped_column(String(16))
    # Where `language` came from: declared (page or feed) | detected (from the text).
    language_source: Mapped[str | None] = mapped_column(String(16))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    text: Mapped[str] = mapped_column(Text)
    html: Mapped[str] = mapped_column(Text)
    # sha256 of the normalized text; unique, so the same text is stored once.
    content_hash: Mapped[str] = mapped_column(String(64), unique=True)
    # The lead image (the feed's, else the page's og:image, else its first large image), and
    # the caption and credit of the page's figure showing it.
    image: Mapped[str | None] = mapped_column(Text)
    image_caption: Mapped[str | None] = mapped_column(Text)
    image_credit: Mapped[str | None] = mapped_column(Text)
    # With [images] download: the kept file, relative to the images directory. Indexed:
    # retention asks whether any remaining article still shows a file it would delete.
    image_path: Mapped[str | None] = mapped_column(Text, index=True)
    # When `newsrelay export --mark-published` handed it to the site; NULL = unpublished.
    marked_published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Corrections (storage.revisions): the revision the row holds (1: the first text), when
    # it was stored (NULL for revision 1), and the entry's updated time as last seen.
    revision: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    entry_updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ArticleUrl(Base):
    """Every canonical address under which an article was seen, the first one included."""

    __tablename__ = "article_urls"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text, unique=True)
    # canonical | page_canonical | duplicate_<kind> (url, guid, url_id, content, near)
    kind: Mapped[str] = mapped_column(String(32))
    source_id: Mapped[int | None] = mapped_column(ForeignKey("sources.id", ondelete="SET NULL"))
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # For duplicate_near: the Jaccard similarity to the stored article's text.
    similarity: Mapped[float | None] = mapped_column(Float)


class ArticleKey(Base):
    """Identities of an article other than its addresses: feed GUID, id in the URL.

    ``key`` is prefixed with the source id: both identities hold within one source only.
    """

    __tablename__ = "article_keys"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_article_keys_kind_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))  # guid | url_id
    key: Mapped[str] = mapped_column(Text)


Index("ix_article_keys_article_id", ArticleKey.article_id)


class NearKey(Base):
    """LSH band keys of an article's MinHash: the near-duplicate index (no full scans), with
    :class:`RecentNearKey` (``storage.near_index``). On SQLite a WITHOUT ROWID table: the rows
    are the primary key's B-tree, one insert per band instead of a row plus an index entry."""

    __tablename__ = "article_near_keys"
    __table_args__ = {"sqlite_with_rowid": False}

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


class RecentNearKey(Base):
    """Band keys of the latest articles on SQLite, before ``storage.near_index`` moves them
    into ``article_near_keys`` a key range at a time: a batch's random keys land in this
    small table's few pages instead of in hundreds of the big index's."""

    __tablename__ = "article_near_keys_recent"
    __table_args__ = {"sqlite_with_rowid": False}

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    article_id: Mapped[int] = mapped_column(
        ForeignKey("articles.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )


Index("ix_article_urls_article_id", ArticleUrl.article_id)
# Retention reads (and deletes) an article's band keys by article: no scan of the whole index.
# New articles have the highest ids, so these entries are appended, not spread.
Index("ix_article_near_keys_article_id", NearKey.article_id)
Index("ix_article_near_keys_recent_article_id", RecentNearKey.article_id)


class ArticleTombstone(Base):
    """What is left of an article that retention deleted (``storage.retention``): its keys
    (``tombstone_keys``) recognise its story when it comes back, until they expire."""

    __tablename__ = "article_tombstones"

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(Integer)  # the deleted article's id
    url: Mapped[str] = mapped_column(Text)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime)
    deleted_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class TombstoneKey(Base):
    """A dedup key of a deleted article. ``kind``: ``url`` (each address it had, copies'
    too), ``guid`` / ``url_id`` (prefixed with the source id, as in ``article_keys``),
    ``content`` (its text hash), ``near`` (an LSH band key, in decimal)."""

    __tablename__ = "tombstone_keys"

    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    tombstone_id: Mapped[int] = mapped_column(
        ForeignKey("article_tombstones.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    )


Index("ix_tombstone_keys_tombstone_id", TombstoneKey.tombstone_id)


class CrawlRun(Base):
    __tablename__ = "crawl_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # running | ok | failed | interrupted
    status: Mapped[str] = mapped_column(String(16), default="running")
    feeds_fetched: Mapped[int] = mapped_column(Integer, default=0)
    feeds_failed: Mapped[int] = mapped_column(Integer, default=0)
    entries_seen: Mapped[int] = mapped_column(Integer, default=0)
    known_skipped: Mapped[int] = mapped_column(Integer, default=0)
    pages_fetched: Mapped[int] = mapped_column(Integer, default=0)
    pages_failed: Mapped[int] = mapped_column(Integer, default=0)
    new: Mapped[int] = mapped_column(Integer, default=0)
    duplicates_url: Mapped[int] = mapped_column(Integer, default=0)
    duplicates_content: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    duplicates_guid: Mapped[int] = mapped_column(Integer, default=0)
    duplicates_url_id: Mapped[int] = mapped_column(Integer, default=0)
    duplicates_near: Mapped[int] = mapped_column(Integer, default=0)
    feeds_not_modified: Mapped[int] = mapped_column(Integer, default=0)
    feeds_not_due: Mapped[int] = mapped_column(Integer, default=0)
    # Pages that reached extraction, and those whose own body was empty or tiny.
    pages_extracted: Mapped[int] = mapped_column(Integer, default=0)
    pages_thin: Mapped[int] = mapped_column(Integer, default=0)
    # Entries an editorial filter dropped (storage.filtered), before or after their fetch.
    filtered: Mapped[int] = mapped_column(Integer, default=0)
    # Stored articles whose corrected text became a new revision (storage.revisions).
    revised: Mapped[int] = mapped_column(Integer, default=0)
    # The process that ran it: a run left "running" by a dead process is marked interrupted.
    # A pid alone can be another process's by now: its boot and start time tell them apart.
    host: Mapped[str | None] = mapped_column(String(255))
    pid: Mapped[int | None] = mapped_column(Integer)
    boot_id: Mapped[str | None] = mapped_column(String(64))
    pid_start: Mapped[int | None] = mapped_column(BigInteger)
    # The cluster worker that ran it (``newsrelay worker``); None for a daemon or a crawl.
    worker: Mapped[str | None] = mapped_column(String(255))


Index("ix_crawl_runs_source_id_started_at", CrawlRun.source_id, CrawlRun.started_at)


class FilteredEntry(Base):
    """An entry of a source that an editorial filter dropped: never fetched again by that
    source (``storage.articles.known_entries`` counts it as known)."""

    __tablename__ = "filtered_entries"
    __table_args__ = (
        UniqueConstraint("source_id", "url", name="uq_filtered_entries_source_id_url"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(Text)  # canonical
    rule: Mapped[str] = mapped_column(Text)  # the rule that dropped it, as logged
    # The source's rules when it was dropped (crawler.editorial.Editing.key): once they
    # change, the entry is judged again.
    rules: Mapped[str] = mapped_column(String(32), default="")
    run_id: Mapped[int | None] = mapped_column(ForeignKey("crawl_runs.id", ondelete="SET NULL"))
    filtered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SourceTemplate(Base):
    """A paragraph fingerprint seen on a source's article pages: on how many, and when last.
    Seen on enough pages, the paragraph is the source's boilerplate (``crawler.templates``)."""

    __tablename__ = "source_templates"

    source_id: Mapped[int] = mapped_column(
        ForeignKey("sources.id", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    pages: Mapped[int] = mapped_column(Integer)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_source_templates_source_id_last_seen", SourceTemplate.source_id, SourceTemplate.last_seen)


class DaemonState(Base):
    """The one row a running ``newsrelay run`` keeps fresh: who it is, and its heartbeat."""

    __tablename__ = "daemon_state"

    id: Mapped[int] = mapped_column(primary_key=True)  # always 1: one daemon per database
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    version: Mapped[str] = mapped_column(String(32))
    config_path: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    stopped_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClusterMember(Base):
    """A ``newsrelay scheduler`` or ``newsrelay worker`` process, kept fresh by its heartbeat."""

    __tablename__ = "cluster_members"

    name: Mapped[str] = mapped_column(String(255), primary_key=True)  # host:pid
    role: Mapped[str] = mapped_column(String(16))  # scheduler | worker
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    heartbeat_at: Mapped[datetime] = mapped_column(UTCDateTime)
    leader_since: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the elected scheduler
    crawls: Mapped[int] = mapped_column(Integer, default=0)  # a worker's runs in flight


class CrawlRequest(Base):
    """``newsrelay crawl NAME --enqueue``: a run asked of the workers, and which run answered."""

    __tablename__ = "crawl_requests"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    source: Mapped[str] = mapped_column(String(64))
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # queued | done (run_id is its run) | collapsed (run_id: the run already going) | failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    run_id: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)


class Delivery(Base):
    """The delivery ledger: one row per article and destination, written when the article is
    stored (or queued by ``publish --since``), so each is handed over once."""

    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("article_id", "destination", name="uq_deliveries_article_id_destination"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    article_id: Mapped[int] = mapped_column(ForeignKey("articles.id", ondelete="CASCADE"))
    destination: Mapped[str] = mapped_column(String(64))
    # pending | delivered | failed (permanently: a 4xx, or retried for retry_for in vain)
    state: Mapped[str] = mapped_column(String(16), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    remote_id: Mapped[str | None] = mapped_column(Text)  # the WordPress post id
    status_code: Mapped[int | None] = mapped_column(Integer)  # of the last attempt
    last_error: Mapped[str | None] = mapped_column(Text)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # None: due now
    first_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # An attempt in flight: no other publisher takes the row before then.
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


Index(
    "ix_deliveries_destination_state_article_id",
    Delivery.destination,
    Delivery.state,
    Delivery.article_id,
)
