"""One daemon per database: the lock a daemon holds for its whole life.

SQLite databases are locked with ``flock`` on a file beside the database, PostgreSQL ones with
a session advisory lock; both are released by the kernel or the server when the process dies,
even by ``kill -9``, so a crash never leaves a stale lock.
"""

from __future__ import annotations

import fcntl
from pathlib import Path
from typing import IO

from sqlalchemy import Connection, func, select, text
from sqlalchemy.engine import make_url

from storage.daemon_state import daemon_state
from storage.db import Database, StorageError

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
            first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            raise StorageError(f"cannot take the daemon lock: {first_line}") from None
        if not locked:
            conn.close()
            raise AlreadyRunning(_running_message(self.db))
        self._conn = conn

    def check(self) -> None:
        """Raise :class:`StorageError` when the lock's connection, and so the lock, is lost."""
        if self._conn is None:
            return
        try:
            self._conn.execute(text("SELECT 1"))
            self._conn.commit()
        except Exception as exc:
            raise StorageError(f"daemon lock lost: {str(exc).splitlines()[0]}") from None

    def release(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        if self._conn is not None:
            # Closing the server session is what frees the lock; a pooled connection would
            # keep it.
            try:
                self._conn.invalidate()
                self._conn.close()
            except Exception:  # the connection is already broken: its lock went with it
                pass
            self._conn = None


def _running_message(db: Database) -> str:
    message = "another newsrelay daemon is running on this database"
    state = daemon_state(db)
    if state is not None:
        message += (
            f" (pid {state.pid} on {state.host}, since {state.started_at:%Y-%m-%d %H:%M} UTC)"
        )
    return message
