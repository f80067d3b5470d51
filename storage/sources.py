"""Sources and their feeds: feed state (validators, next-poll bounds), source health
(failures, backoff), the daemon's schedule bookkeeping, and the status query."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import aliased

from storage.db import Database
from storage.models import CrawlRun, Feed, Source, utcnow
from storage.records import FeedState, SourceHealth, SourceIds, SourceStatus
from storage.runs import run_record
from storage.statements import insert_ignore


def ensure_source(db: Database, name: str, feed_urls: Sequence[str]) -> SourceIds:
    """Create the source and its feeds if missing; return their ids."""
    with db.transaction() as session:
        insert_ignore(session, Source, [{"name": name, "created_at": utcnow()}], ["name"])
        source_id = session.scalars(select(Source.id).where(Source.name == name)).one()
        rows = [{"source_id": source_id, "url": url} for url in feed_urls]
        if rows:
            insert_ignore(session, Feed, rows, ["source_id", "url"])
        feeds = session.execute(select(Feed.url, Feed.id).where(Feed.source_id == source_id)).all()
    return SourceIds(source_id, {url: feed_id for url, feed_id in feeds})


def feed_states(db: Database, feed_ids: Iterable[int]) -> dict[int, FeedState]:
    """The stored HTTP validators and next-poll bounds of the given feeds."""
    with db.reading() as session:
        rows = session.execute(
            select(Feed.id, Feed.etag, Feed.last_modified, Feed.next_poll_after).where(
                Feed.id.in_(list(feed_ids))
            )
        ).all()
    return {row.id: FeedState(row.etag, row.last_modified, row.next_poll_after) for row in rows}


def unvalidated_feeds(db: Database, sources: Iterable[tuple[str, Sequence[str]]]) -> int:
    """How many of these (source name, feed URLs) feeds have no stored ETag or
    Last-Modified: never fetched, or never answering a conditional GET. Polling them
    certainly brings a body to parse."""
    wanted = {(name, url) for name, urls in sources for url in urls}
    if not wanted:
        return 0
    with db.reading() as session:
        validated = session.execute(
            select(Source.name, Feed.url)
            .join(Source, Source.id == Feed.source_id)
            .where(Source.name.in_(sorted({name for name, _ in wanted})))
            .where((Feed.etag.is_not(None)) | (Feed.last_modified.is_not(None)))
        ).all()
    return len(wanted - {(row.name, row.url) for row in validated})


# next_poll_after=KEEP: leave the stored bound as it is.
KEEP = object()


def record_feed_fetch(
    db: Database,
    feed_id: int,
    *,
    status: int | None,
    error: str | None = None,
    validators: FeedState | None = None,
    next_poll_after: datetime | object | None = KEEP,
) -> None:
    """Remember the outcome of one feed fetch (and its validators after a 200)."""
    values: dict[str, Any] = {
        "last_status": status,
        "last_error": error,
        "last_fetched_at": utcnow(),
    }
    if validators is not None:
        values["etag"] = validators.etag
        values["last_modified"] = validators.last_modified
    if next_poll_after is not KEEP:
        values["next_poll_after"] = next_poll_after
    with db.transaction() as session:
        session.execute(update(Feed).where(Feed.id == feed_id).values(**values))


def forget_validators(db: Database, feed_ids: Iterable[int], *, due_now: bool = False) -> None:
    """Make the next poll of these feeds unconditional (some of their pages must be retried);
    ``due_now``: and let it come at once, whatever the feed asked (TTL, max-age)."""
    ids = sorted(set(feed_ids))
    values: dict[str, Any] = {"etag": None, "last_modified": None}
    if due_now:
        values["next_poll_after"] = None
    if ids:
        with db.transaction() as session:
            session.execute(update(Feed).where(Feed.id.in_(ids)).values(**values))


def backoff_until(db: Database, name: str) -> datetime | None:
    """When the named source may be tried again by a scheduled run (None: now, or unknown)."""
    with db.reading() as session:
        return session.scalar(select(Source.backoff_until).where(Source.name == name))


def source_health(db: Database, source_id: int) -> SourceHealth:
    with db.reading() as session:
        row = session.execute(
            select(Source.consecutive_failures, Source.backoff_until).where(Source.id == source_id)
        ).one()
    return SourceHealth(row.consecutive_failures, row.backoff_until)


def set_source_health(db: Database, source_id: int, health: SourceHealth) -> None:
    with db.transaction() as session:
        session.execute(
            update(Source)
            .where(Source.id == source_id)
            .values(
                consecutive_failures=health.consecutive_failures,
                backoff_until=health.backoff_until,
            )
        )


# -- the daemon's schedule ------------------------------------------------------------------
def last_run_starts(db: Database) -> dict[str, datetime]:
    """When each source's latest run (by any process) started."""
    with db.reading() as session:
        rows = session.execute(
            select(Source.name, func.max(CrawlRun.started_at))
            .join(CrawlRun, CrawlRun.source_id == Source.id)
            .group_by(Source.name)
        ).all()
    return {name: started for name, started in rows if started is not None}


def set_next_runs(db: Database, next_runs: Mapping[str, datetime | None]) -> None:
    """Record when the daemon will run each named source (None: not scheduled), in one
    statement executed for all of them."""
    if not next_runs:
        return
    table: Table = Source.__table__  # type: ignore[assignment]
    statement = (
        update(table)
        .where(table.c.name == bindparam("source_name"))
        .values(next_run_at=bindparam("next_run"))
    )
    rows = [{"source_name": n, "next_run": w} for n, w in sorted(next_runs.items())]
    with db.transaction() as session:
        session.execute(statement, rows)


def unschedule_all_but(db: Database, names: Iterable[str]) -> None:
    """Clear the next run of every source not named (removed from the config)."""
    with db.transaction() as session:
        session.execute(
            update(Source).where(Source.name.not_in(list(names))).values(next_run_at=None)
        )


# -- status ---------------------------------------------------------------------------------
def source_statuses(db: Database) -> dict[str, SourceStatus]:
    """Per stored source: its health, next run and latest run."""
    with db.reading() as session:
        latest = (
            select(CrawlRun.source_id, func.max(CrawlRun.id).label("run_id"))
            .group_by(CrawlRun.source_id)
            .subquery()
        )
        succeeded = (
            select(CrawlRun.source_id, func.max(CrawlRun.finished_at).label("at"))
            .where(CrawlRun.status == "ok")
            .group_by(CrawlRun.source_id)
            .subquery()
        )
        ended = (
            select(CrawlRun.source_id, func.max(CrawlRun.id).label("run_id"))
            .where(CrawlRun.finished_at.is_not(None))
            .group_by(CrawlRun.source_id)
            .subquery()
        )
        finished = aliased(CrawlRun)
        rows = session.execute(
            select(Source, CrawlRun, succeeded.c.at, finished)
            .outerjoin(latest, latest.c.source_id == Source.id)
            .outerjoin(CrawlRun, CrawlRun.id == latest.c.run_id)
            .outerjoin(succeeded, succeeded.c.source_id == Source.id)
            .outerjoin(ended, ended.c.source_id == Source.id)
            .outerjoin(finished, finished.id == ended.c.run_id)
        ).all()
        return {
            source.name: SourceStatus(
                source.name,
                source.consecutive_failures,
                source.backoff_until,
                source.next_run_at,
                run_record(run) if run is not None else None,
                success,
                run_record(last) if last is not None else None,
            )
            for source, run, success, last in rows
        }
