"""Sources and their feeds: their ids, the daemon's schedule bookkeeping, and the status
query. (A run's reads and writes of feed states and health: ``storage.run_ends``.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import aliased

from storage.db import Database
from storage.models import CrawlRun, Feed, Source, utcnow
from storage.records import SourceIds, SourceStatus
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


def backoff_until(db: Database, name: str) -> datetime | None:
    """When the named source may be tried again by a scheduled run (None: now, or unknown)."""
    with db.reading() as session:
        return session.scalar(select(Source.backoff_until).where(Source.name == name))


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
