"""Crawl runs: opened and closed by each crawl, and closed for processes that died."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from storage.db import Database
from storage.models import CrawlRun, Feed, utcnow
from storage.records import RunCounters, RunRecord, counters_of

# A run still "running" after this long, recorded by a process on another host (which we
# cannot ask), is taken to be abandoned: no crawl of one source lasts that long.
ABANDONED_AFTER = timedelta(hours=6)


def start_run(db: Database, source_id: int) -> int:
    """Open a ``crawl_runs`` row in state ``running``, owned by this process."""
    with db.transaction() as session:
        run = CrawlRun(
            source_id=source_id,
            started_at=utcnow(),
            status="running",
            host=socket.gethostname(),
            pid=os.getpid(),
        )
        session.add(run)
        session.flush()
        return run.id


def finish_run(
    db: Database, run_id: int, status: str, counters: RunCounters, error: str | None = None
) -> None:
    """Close a run with its counters and final status (ok, failed, interrupted)."""
    values = {**vars(counters), "status": status, "error": error, "finished_at": utcnow()}
    with db.transaction() as session:
        session.execute(update(CrawlRun).where(CrawlRun.id == run_id).values(**values))


def get_run(db: Database, run_id: int) -> RunRecord | None:
    """The run's row, or None."""
    with db.reading() as session:
        row = session.get(CrawlRun, run_id)
        return run_record(row) if row is not None else None


def run_record(row: CrawlRun) -> RunRecord:
    """The plain record of a ``crawl_runs`` row."""
    return RunRecord(
        id=row.id,
        source_id=row.source_id,
        started_at=row.started_at,
        finished_at=row.finished_at,
        status=row.status,
        error=row.error,
        host=row.host,
        pid=row.pid,
        counters=counters_of(row),
    )


def mark_abandoned_runs(db: Database) -> int:
    """Close as ``interrupted`` the runs left ``running`` by a process that died (``kill -9``,
    power loss). Call it before this process opens runs of its own. Returns how many."""
    host, me = socket.gethostname(), os.getpid()
    with db.reading() as session:
        running = session.execute(
            select(CrawlRun.id, CrawlRun.host, CrawlRun.pid, CrawlRun.started_at).where(
                CrawlRun.status == "running"
            )
        ).all()
    cutoff = utcnow() - ABANDONED_AFTER
    dead = [
        row.id
        for row in running
        if row.pid is None
        or (row.host == host and (row.pid == me or not _alive(row.pid)))
        or (row.host != host and row.started_at < cutoff)
    ]
    if dead:
        with db.transaction() as session:
            # The dead run may have stored a feed's validators and not its entries: the next
            # poll must read those feeds in full (pages already stored are still skipped).
            sources = select(CrawlRun.source_id).where(CrawlRun.id.in_(dead))
            session.execute(
                update(Feed)
                .where(Feed.source_id.in_(sources))
                .values(etag=None, last_modified=None)
            )
            session.execute(
                update(CrawlRun)
                .where(CrawlRun.id.in_(dead), CrawlRun.status == "running")
                .values(
                    status="interrupted",
                    finished_at=utcnow(),
                    error="the process running this crawl died",
                )
            )
    return len(dead)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie is dead, it only waits for its parent
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rpartition(")")[2].split()[0] != "Z"
    except (OSError, IndexError):
        return True
