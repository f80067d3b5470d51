"""The daemon's row: its start, heartbeat and stop, and who holds the database."""

from __future__ import annotations

import os
import socket
from datetime import timedelta
from typing import Any

from sqlalchemy import update

from storage.db import Database
from storage.models import DaemonState, Source, utcnow
from storage.records import DaemonRecord


def daemon_started(db: Database, version: str, config_path: str | None) -> None:
    """Record that this process now runs the daemon on ``db``."""
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
    """Say this daemon is still alive (only while the row is still ours)."""
    with db.transaction() as session:
        session.execute(
            update(DaemonState)
            .where(DaemonState.id == 1, DaemonState.pid == os.getpid())
            .values(heartbeat_at=utcnow())
        )


def daemon_stopped(db: Database) -> None:
    """Record this daemon's stop; no source has a next run any more."""
    with db.transaction() as session:
        now = utcnow()
        session.execute(
            update(DaemonState)
            .where(DaemonState.id == 1, DaemonState.pid == os.getpid())
            .values(heartbeat_at=now, stopped_at=now)
        )
        session.execute(update(Source).values(next_run_at=None))


def daemon_state(db: Database) -> DaemonRecord | None:
    """The daemon's row, or None when no daemon ever ran on this database."""
    with db.reading() as session:
        row = session.get(DaemonState, 1)
        if row is None:
            return None
        return DaemonRecord(
            host=row.host,
            pid=row.pid,
            version=row.version,
            config_path=row.config_path,
            started_at=row.started_at,
            heartbeat_at=row.heartbeat_at,
            stopped_at=row.stopped_at,
        )


def is_alive(state: DaemonRecord | None, heartbeat_every: timedelta) -> bool:
    """A daemon runs: it has not recorded its stop and beat within three heartbeats."""
    return state is not None and state.is_alive(heartbeat_every, utcnow())
