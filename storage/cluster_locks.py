"""PostgreSQL advisory locks that make the cluster safe: a source is crawled by one worker at
a time, a politeness key (a host) by one crawl at a time, and near-duplicates are decided by
one writer at a time.

Session locks live on one connection per process, straight to PostgreSQL (never through
PgBouncer in transaction mode): the server frees them when the process dies, even by
``kill -9``: that is how a dead worker's runs are recognised
(:func:`storage.cluster.close_dead_runs`).
"""

from __future__ import annotations

import logging
import threading

from sqlalchemy import Connection, text
from sqlalchemy.orm import Session

from storage.db import Database, StorageError

logger = logging.getLogger(__name__)

_KEY = "hashtextextended('newsrelay ' || :kind || ' ' || current_schema() || ' ' || :name, 0)"
_TRY = text(f"SELECT pg_try_advisory_lock({_KEY})")
_UNLOCK = text(f"SELECT pg_advisory_unlock({_KEY})")
_NEAR = text(
    "SELECT pg_advisory_xact_lock(hashtextextended('newsrelay near ' || current_schema(), 0))"
)


class AdvisoryLocks:
    """Session advisory locks of one process, on one connection (thread-safe). A lock is
    held once per process: a second :meth:`try_lock` of a held key fails, although
    PostgreSQL's session locks would let the same session take it again."""

    def __init__(self, db: Database) -> None:
        if db.dialect != "postgresql":
            raise StorageError("the cluster needs PostgreSQL for its locks")
        self.db = db
        self._conn: Connection | None = None
        self._held: set[tuple[str, str]] = set()
        self._mutex = threading.Lock()

    def try_lock(self, kind: str, name: str) -> bool:
        """Take the lock ``kind``/``name`` if no one holds it; never waits."""
        with self._mutex:
            if (kind, name) in self._held:
                return False
            locked = bool(self._execute(_TRY, kind, name))
            if locked:
                self._held.add((kind, name))
            return locked

    def unlock(self, kind: str, name: str) -> None:
        with self._mutex:
            if (kind, name) not in self._held:
                return
            self._held.discard((kind, name))
            try:
                self._execute(_UNLOCK, kind, name)
            except StorageError as exc:  # the connection is gone, and its locks with it
                logger.warning("advisory unlock failed: %s", exc)

    def check(self) -> None:
        """Raise :class:`StorageError` when the lock connection (and so every lock) is lost."""
        with self._mutex:
            self._execute(text("SELECT 1"), "", "")

    def close(self) -> None:
        with self._mutex:
            self._drop()

    def _execute(self, statement: object, kind: str, name: str) -> object:
        try:
            if self._conn is None:
                self._conn = self.db.engine.connect()
            value = self._conn.execute(statement, {"kind": kind, "name": name}).scalar()  # type: ignore[call-overload]
            self._conn.commit()  # session locks outlive the transaction
            return value
        except Exception as exc:
            # A new connection has none of the old one's locks: forget them all.
            self._drop()
            raise StorageError(f"lock connection lost: {str(exc).splitlines()[0]}") from None

    def _drop(self) -> None:
        if self._held:
            logger.warning("advisory locks lost with their connection: %d", len(self._held))
        self._held.clear()
        if self._conn is not None:
            try:
                self._conn.invalidate()  # closing the session frees its locks
                self._conn.close()
            except Exception:  # already broken
                pass
            self._conn = None


def serialise_near_duplicates(session: Session) -> None:
    """On PostgreSQL, hold until commit the one lock under which writers look up
    near-duplicate candidates and insert their band keys: two near-copies saved at the same
    moment by two workers would otherwise both be stored as new. One lock per transaction, not
    one per band (a batch of 100 articles x 16 bands could exhaust the server's lock table)."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(_NEAR)
