"""Crawl runs: opened and closed by each crawl, and closed for processes that died."""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import func, select, text, update

from storage.db import Database
from storage.models import CrawlRun, Feed, utcnow
from storage.records import RunCounters, RunRecord, counters_of

# A run still "running" after this long, recorded by a process on another host (which we
# cannot ask), is taken to be abandoned: no crawl of one source lasts that long.
ABANDONED_AFTER = timedelta(hours=6)


def start_run(db: Database, source_id: int, worker: str | None = None) -> int:
    """Open a ``crawl_runs`` row in state ``running``, owned by this process (and, in a
    cluster, by ``worker``)."""
    return _new_run(db, source_id, "running", worker)


def queue_run(db: Database, source_id: int) -> int:
    """A ``queued`` run (asked for through the console), owned by this process until a crawl
    adopts it (:func:`adopt_run`)."""
    return _new_run(db, source_id, "queued", None)


# This process as an owner, read once per process (by pid: a forked child reads its own):
# two files of /proc read at every run's row were 5 % of a daemon's unchanged poll.
_OWNERS: dict[int, dict[str, Any]] = {}


def owner() -> dict[str, Any]:
    """This process, as a run's owner (a run whose owner died is closed at the next start)."""
    pid = os.getpid()
    mine = _OWNERS.get(pid)
    if mine is None:
        mine = _OWNERS[pid] = {
            "host": socket.gethostname(),
            "pid": pid,
            "boot_id": boot_id(),
            "pid_start": process_start(pid),
        }
    return dict(mine)


def _new_run(db: Database, source_id: int, status: str, worker: str | None) -> int:
    with db.transaction() as session:
        run = CrawlRun(
            source_id=source_id, started_at=utcnow(), status=status, worker=worker, **owner()
        )
        session.add(run)
        session.flush()
        return run.id


def queue_run_once(db: Database, source_id: int) -> tuple[int, bool]:
    """The source's run queued or running, else a new queued one (and whether it is new):
    decided in one transaction (on PostgreSQL under a lock per source), so two requests at
    once queue one run."""
    with db.transaction() as session:
        if db.dialect == "postgresql":
            session.execute(
                text("SELECT pg_advisory_xact_lock(hashtextextended('crawl now ' || :s, 0))"),
                {"s": str(source_id)},
            )
        going = session.scalar(
            select(func.max(CrawlRun.id)).where(
                CrawlRun.source_id == source_id, CrawlRun.status.in_(("queued", "running"))
            )
        )
        if going is not None:
            return int(going), False
        run = CrawlRun(source_id=source_id, started_at=utcnow(), status="queued", **owner())
        session.add(run)
        session.flush()
        return run.id, True


def adopt_run(db: Database, run_id: int, worker: str | None = None) -> int | None:
    """A queued run becomes the crawl's running one (its start time now); None if it is no
    longer queued (closed meanwhile: the crawl then opens a run of its own)."""
    with db.transaction() as session:
        result = session.execute(
            update(CrawlRun)
            .where(CrawlRun.id == run_id, CrawlRun.status == "queued")
            .values(status="running", started_at=utcnow(), worker=worker, **owner())
        )
        return run_id if result.rowcount else None  # type: ignore[attr-defined]


def close_queued(db: Database, run_id: int, error: str) -> None:
    """A queued run that no crawl adopted (the daemon stopped first): ``interrupted``."""
    with db.transaction() as session:
        session.execute(
            update(CrawlRun)
            .where(CrawlRun.id == run_id, CrawlRun.status == "queued")
            .values(status="interrupted", finished_at=utcnow(), error=error)
        )


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
    """Close as ``interrupted`` the runs left ``running`` (or ``queued``) by a process that
    died (``kill -9``, power loss). Call it before this process opens runs of its own.
    Returns how many.

    Their sources' feeds are read in full, and at once, by the next poll: the dead run may
    have stored a feed's validators and its "not before" bound, and not its entries.
    """
    with db.reading() as session:
        running = session.execute(
            select(
                CrawlRun.id,
                CrawlRun.host,
                CrawlRun.pid,
                CrawlRun.boot_id,
                CrawlRun.pid_start,
                CrawlRun.started_at,
            ).where(CrawlRun.status.in_(("running", "queued")))
        ).all()
    cutoff = utcnow() - ABANDONED_AFTER
    dead = [row.id for row in running if _abandoned(row, cutoff)]
    if dead:
        with db.transaction() as session:
            sources = select(CrawlRun.source_id).where(CrawlRun.id.in_(dead))
            session.execute(
                update(Feed)
                .where(Feed.source_id.in_(sources))
                .values(etag=None, last_modified=None, next_poll_after=None)
            )
            session.execute(
                update(CrawlRun)
                .where(CrawlRun.id.in_(dead), CrawlRun.status.in_(("running", "queued")))
                .values(
                    status="interrupted",
                    finished_at=utcnow(),
                    error="the process running this crawl died",
                )
            )
    return len(dead)


def _abandoned(row: Any, cutoff: datetime) -> bool:
    """Whether the process that recorded this running run is gone."""
    if row.pid is None:
        return True
    if row.host != socket.gethostname():  # another machine: we cannot ask it
        return bool(row.started_at < cutoff)
    if row.boot_id is not None and row.boot_id != boot_id():
        return True  # this machine rebooted since
    if row.pid == os.getpid() or not _alive(row.pid):
        return True  # this process opens no runs before this check; or the pid is free
    return row.pid_start is not None and row.pid_start != process_start(row.pid)


def boot_id() -> str | None:
    """This boot of this machine (Linux), or None."""
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip() or None
    except OSError:
        return None


def process_start(pid: int) -> int | None:
    """When process ``pid`` started, in clock ticks since boot (Linux), or None."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        return int(stat.rpartition(")")[2].split()[19])  # field 22, starttime
    except (OSError, IndexError, ValueError):
        return None


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
