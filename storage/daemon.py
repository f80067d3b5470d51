"""What the daemon keeps in the database: its lock, its heartbeat, the next run of each source,
and the records of runs whose process died.

One daemon per database. SQLite databases are locked with ``flock`` on a file beside the
database, PostgreSQL ones with a session advisory lock; both are released by the kernel or the
server when the process dies, even by ``kill -9``, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, Any

from sqlalchemy import Connection, func, select, text, update
from sqlalchemy.engine import make_url

from storage.db import Database, StorageError
from storage.models import CrawlRun, DaemonState, Feed, Source, utcnow
from storage.repository import RunCounters

# A run still "running" after this long, recorded by a process on another host (which we
# cannot ask), is taken to be abandoned: no crawl of one source lasts that long.
ABANDONED_AFTER = timedelta(hours=6)
_PG_LOCK_KEY = "SELECT hashtextextended('newsrelay daemon ' || current_schema(), 0)"


class AlreadyRunning(StorageError):
    """Another daemon holds this database's lock."""


class DaemonLock:
    """Held for the daemon's whole life; :meth:`release` on the way out."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._file: IO[bytes] | None = None
        self._conn: Connection | None = None

    def acquire(self) -> None:
        if self.db.dialect == "sqlite":
            self._lock_file()
        elif self.db.dialect == "postgresql":
            self._lock_advisory()
        else:
            raise StorageError(f"the daemon supports SQLite and PostgreSQL, not {self.db.dialect}")

    def _lock_file(self) -> None:
        database = make_url(self.db.url).database
        if not database or database == ":memory:":
            raise StorageError("the daemon needs a database file, not an in-memory database")
        path = Path(f"{database}.lock")
        try:
            handle = path.open("ab")
        except OSError as exc:
            raise StorageError(f"cannot open lock file {path}: {exc.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            raise AlreadyRunning(_running_message(self.db)) from None
        self._file = handle

    def _lock_advisory(self) -> None:
        try:
            conn = self.db.engine.connect()
            key = conn.execute(text(_PG_LOCK_KEY)).scalar_one()
            locked = conn.execute(select(func.pg_try_advisory_lock(key))).scalar_one()
            conn.commit()  # the lock belongs to the session, not to this transaction
        except Exception as exc:
            raise StorageError(f"cannot take the daemon lock: {exc}") from None
        if not locked:
            conn.close()
            raise AlreadyRunning(_running_message(self.db))
        self._conn = conn

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._conn is not None:
            # Closing the server session is what frees the lock; a pooled connection would
            # keep it.
            self._conn.invalidate()
            self._conn.close()
            self._conn = None


def _running_message(db: Database) -> str:
    message = "another newsrelay daemon is running on this database"
    state = daemon_state(db)
    if state is not None:
        message += (
            f" (pid {state.pid} on {state.host}, since {state.started_at:%Y-%m-%d %H:%M} UTC)"
        )
    return message


# -- heartbeat ------------------------------------------------------------------------------
def daemon_started(db: Database, version: str, config_path: str | None) -> None:
    now = utcnow()
    values: dict[str, Any] = {
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "version": version,
        "config_path": config_path,
        "started_at": now,
        "heartbeat_at": now,
        "stopped_at": None,
    }
    with db.transaction() as session:
        row = session.get(DaemonState, 1)
        if row is None:
            session.add(DaemonState(id=1, **values))
        else:
            for key, value in values.items():
                setattr(row, key, value)


def heartbeat(db: Database) -> None:
    with db.transaction() as session:
        session.execute(
            update(DaemonState)
            .where(DaemonState.id == 1, DaemonState.pid == os.getpid())
            .values(heartbeat_at=utcnow())
        )


def daemon_stopped(db: Database) -> None:
    with db.transaction() as session:
        now = utcnow()
        session.execute(
            update(DaemonState)
            .where(DaemonState.id == 1, DaemonState.pid == os.getpid())
            .values(heartbeat_at=now, stopped_at=now)
        )
        session.execute(update(Source).values(next_run_at=None))


def daemon_state(db: Database) -> DaemonState | None:
    with db.reading() as session:
        return session.get(DaemonState, 1)


# -- runs -----------------------------------------------------------------------------------
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
    """Record when the daemon will run each named source (None: not scheduled)."""
    with db.transaction() as session:
        for name, when in sorted(next_runs.items()):
            session.execute(update(Source).where(Source.name == name).values(next_run_at=when))


def unschedule_all_but(db: Database, names: Iterable[str]) -> None:
    """Clear the next run of every source not named (removed from the config)."""
    with db.transaction() as session:
        session.execute(
            update(Source).where(Source.name.not_in(list(names))).values(next_run_at=None)
        )


# -- status ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SourceStatus:
    name: str
    consecutive_failures: int
    backoff_until: datetime | None
    next_run_at: datetime | None
    last_run: CrawlRun | None

    @property
    def last_counters(self) -> RunCounters | None:
        if self.last_run is None:
            return None
        names = vars(RunCounters()).keys()
        return RunCounters(**{name: getattr(self.last_run, name) or 0 for name in names})


def source_statuses(db: Database) -> dict[str, SourceStatus]:
    """Per stored source: its health, next run and latest run."""
    with db.reading() as session:
        latest = (
            select(CrawlRun.source_id, func.max(CrawlRun.id).label("run_id"))
            .group_by(CrawlRun.source_id)
            .subquery()
        )
        rows = session.execute(
            select(Source, CrawlRun)
            .outerjoin(latest, latest.c.source_id == Source.id)
            .outerjoin(CrawlRun, CrawlRun.id == latest.c.run_id)
        ).all()
        return {
            source.name: SourceStatus(
                source.name,
                source.consecutive_failures,
                source.backoff_until,
                source.next_run_at,
                run,
            )
            for source, run in rows
        }


def is_alive(state: DaemonState | None, heartbeat_every: timedelta) -> bool:
    """A daemon runs: it has not recorded its stop and beat within three heartbeats."""
    if state is None or state.stopped_at is not None:
        return False
    return utcnow() - state.heartbeat_at <= 3 * heartbeat_every
