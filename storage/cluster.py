"""The cluster's shared state in the database: its members' heartbeats, the runs a cluster
worker left open, and the runs asked with ``newsrelay crawl --enqueue``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, select, update

from storage.db import Database
from storage.models import ClusterMember, CrawlRequest, CrawlRun, Feed, Source, utcnow
from storage.records import RunRecord
from storage.runs import run_record

# The error of a cluster run found open with its source's lock free.
DEAD_RUN_ERROR = "the worker running this crawl died or lost the database"


@dataclass(frozen=True)
class MemberRecord:
    name: str
    role: str  # scheduler | worker
    host: str
    pid: int
    started_at: datetime
    heartbeat_at: datetime
    leader_since: datetime | None
    crawls: int

    def is_fresh(self, heartbeat_every: timedelta, now: datetime) -> bool:
        """It beat within three heartbeats."""
        return now - self.heartbeat_at <= 3 * heartbeat_every


def member_beat(
    db: Database,
    *,
    name: str,
    role: str,
    host: str,
    pid: int,
    started_at: datetime,
    crawls: int = 0,
    leader_since: datetime | None = None,
) -> None:
    """Write (or refresh) this member's row."""
    values = {
        "role": role,
        "host": host,
        "pid": pid,
        "started_at": started_at,
        "heartbeat_at": utcnow(),
        "leader_since": leader_since,
        "crawls": crawls,
    }
    with db.transaction() as session:
        row = session.get(ClusterMember, name)
        if row is None:
            session.add(ClusterMember(name=name, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)


def member_gone(db: Database, name: str) -> None:
    """This member stopped cleanly: its row goes."""
    with db.transaction() as session:
        session.execute(delete(ClusterMember).where(ClusterMember.name == name))


def cluster_members(db: Database, forget_after: timedelta) -> list[MemberRecord]:
    """The members that beat within ``forget_after`` (older rows, of members killed long
    ago, are deleted), leader first."""
    cutoff = utcnow() - forget_after
    with db.transaction() as session:
        session.execute(delete(ClusterMember).where(ClusterMember.heartbeat_at < cutoff))
        rows = session.scalars(select(ClusterMember)).all()
        members = [
            MemberRecord(
                name=row.name,
                role=row.role,
                host=row.host,
                pid=row.pid,
                started_at=row.started_at,
                heartbeat_at=row.heartbeat_at,
                leader_since=row.leader_since,
                crawls=row.crawls,
            )
            for row in rows
        ]
    return sorted(members, key=lambda m: (m.role, m.leader_since is None, m.name))


def close_dead_runs(db: Database, source: str) -> int:
    """Close as ``interrupted`` the cluster runs of ``source`` still marked running. Call it
    holding the source's lock: a live worker holds that lock for as long as its run is open,
    so such a run's worker died. The source's feeds are read in full, and at once, by the
    next run (the dead run may have stored validators and not its entries)."""
    with db.transaction() as session:
        dead = session.scalars(
            select(CrawlRun.id)
            .join(Source, Source.id == CrawlRun.source_id)
            .where(
                Source.name == source, CrawlRun.status == "running", CrawlRun.worker.is_not(None)
            )
        ).all()
        if not dead:
            return 0
        source_id = select(Source.id).where(Source.name == source).scalar_subquery()
        session.execute(
            update(Feed)
            .where(Feed.source_id == source_id)
            .values(etag=None, last_modified=None, next_poll_after=None)
        )
        session.execute(
            update(CrawlRun)
            .where(CrawlRun.id.in_(dead))
            .values(
                status="interrupted",
                finished_at=utcnow(),
                error=DEAD_RUN_ERROR,
            )
        )
    return len(dead)


def running_cluster_sources(db: Database) -> list[str]:
    """The sources with a cluster run marked running."""
    with db.reading() as session:
        return list(
            session.scalars(
                select(Source.name)
                .join(CrawlRun, CrawlRun.source_id == Source.id)
                .where(CrawlRun.status == "running", CrawlRun.worker.is_not(None))
                .distinct()
            )
        )


def last_started(db: Database, source: str) -> datetime | None:
    """When the source's latest run that was not interrupted started."""
    with db.reading() as session:
        return session.scalar(
            select(func.max(CrawlRun.started_at))
            .join(Source, Source.id == CrawlRun.source_id)
            .where(Source.name == source, CrawlRun.status.in_(("ok", "partial", "failed")))
        )


def running_run(db: Database, source: str) -> int | None:
    """The id of the source's run now marked running (the latest), or None."""
    with db.reading() as session:
        return session.scalar(
            select(func.max(CrawlRun.id))
            .join(Source, Source.id == CrawlRun.source_id)
            .where(Source.name == source, CrawlRun.status == "running")
        )


# -- runs asked with --enqueue --------------------------------------------------------------
def request_created(db: Database, request_id: str, source: str) -> None:
    with db.transaction() as session:
        session.add(CrawlRequest(id=request_id, source=source, requested_at=utcnow()))


def request_answered(
    db: Database, request_id: str, status: str, run_id: int | None, error: str | None = None
) -> None:
    """The request was run (``done``), joined the run already going (``collapsed``), or could
    not be (``failed``)."""
    with db.transaction() as session:
        session.execute(
            update(CrawlRequest)
            .where(CrawlRequest.id == request_id)
            .values(status=status, run_id=run_id, error=error)
        )


@dataclass(frozen=True)
class RequestState:
    status: str
    run: RunRecord | None
    error: str | None


def request_state(db: Database, request_id: str) -> RequestState | None:
    with db.reading() as session:
        row = session.get(CrawlRequest, request_id)
        if row is None:
            return None
        run = session.get(CrawlRun, row.run_id) if row.run_id is not None else None
        return RequestState(row.status, run_record(run) if run is not None else None, row.error)
