"""Engine, sessions, SQLite pragmas and the schema check.

SQLite gets WAL, a busy timeout, ``synchronous=NORMAL`` and foreign keys, and every
transaction starts with ``BEGIN IMMEDIATE``: a transaction that reads then writes would
otherwise fail at once with "database is locked" when another connection wrote in between.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"
# The newest migration in migrations/versions (a test checks it against Alembic's head).
# Kept here so that opening a database does not import Alembic (a second of start-up).
SCHEMA_REVISION = "0016"
_PG_SCHEMA_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtextextended('newsrelay schema ' || current_schema(), 0))"
)
# PostgreSQL: serialization_failure, deadlock_detected, and foreign_key_violation: a row
# looked up earlier in the transaction was deleted since (retention pruned the article a copy
# was being recorded for); decided again, the copy meets the article's tombstone.
_RETRYABLE = {"40001", "40P01", "23503"}
T = TypeVar("T")
logger = logging.getLogger(__name__)
SQLITE_BUSY_TIMEOUT_MS = 30_000


class StorageError(Exception):
    """The database cannot be used; the message is one line meant for the user."""


class SchemaOutOfDate(StorageError):
    pass


class DatabaseBusy(StorageError):
    """Another connection holds the (SQLite) database's write lock past the busy timeout:
    trying the same work again later is right."""


def _storage_error(exc: SQLAlchemyError) -> StorageError:
    message = f"database error: {_first_line(exc)}"
    original = getattr(exc, "orig", None)
    text = str(original).lower()
    if type(original).__name__ == "OperationalError" and (
        "database is locked" in text or "database is busy" in text
    ):
        return DatabaseBusy(message)
    return StorageError(message)


class Database:
    """An engine plus a session factory for one database URL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = _create_engine(url)
        self.sessions = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work is committed on success and rolled back on error.

        Driver errors (disk full, locked, connection lost) come out as StorageError.
        """
        try:
            with self.sessions.begin() as session:
                yield session
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from exc

    def retrying(self, work: Callable[[Session], T], attempts: int = 4) -> T:
        """Run ``work`` in a transaction; retry it when PostgreSQL reports a deadlock, a
        serialization failure or a row referred to that another writer just deleted (another
        writer touched the same rows: trying again is right).
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.sessions.begin() as session:
                    return work(session)
            except DBAPIError as exc:
                code = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
                if code in _RETRYABLE and attempt < attempts:
                    logger.info("transaction retried after %s (attempt %d)", code, attempt)
                    time.sleep(0.05 * attempt)
                    continue
                raise _storage_error(exc) from exc
            except SQLAlchemyError as exc:
                raise _storage_error(exc) from exc
        raise AssertionError("unreachable")

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session for queries only; driver errors come out as StorageError."""
        try:
            with self.sessions() as session:
                yield session
        except SQLAlchemyError as exc:
            raise _storage_error(exc) from exc

    def dispose(self) -> None:
        self.engine.dispose()

    # -- schema ---------------------------------------------------------------------------
    def current_revision(self) -> str | None:
        with self.engine.connect() as conn:
            if not inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()

    def head_revision(self) -> str | None:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def upgrade(self, *, only_if_empty: bool = False) -> bool:
        """Apply every pending Alembic migration, in one transaction; ``only_if_empty``: only
        to a database without tables. Returns whether it ran.

        Concurrent callers take turns (``BEGIN IMMEDIATE`` on SQLite, an advisory lock on
        PostgreSQL) and look again once it is theirs: three processes opening one brand-new
        database create its schema once (unserialized, PostgreSQL failed with a duplicate
        key in ``pg_type``).
        """
        from alembic import command

        config = self._alembic_config()
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(text(_PG_SCHEMA_LOCK))
            if only_if_empty and inspect(conn).get_table_names():
                return False
            config.attributes["connection"] = conn
            command.upgrade(config, "head")
        return True

    def _alembic_config(self) -> Any:
        from alembic.config import Config as AlembicConfig

        config = AlembicConfig()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return config

    def _is_empty(self) -> bool:
        with self.engine.connect() as conn:
            return not inspect(conn).get_table_names()


def open_database(url: str, *, create: bool = True) -> Database:
    """Connect and check the schema; turn every driver failure into one-line StorageError.

    A database with no tables at all is brand new and gets the schema (``create``); one at an
    older revision is refused with the command that upgrades it, since migrating a production
    database is the operator's decision.
    """
    _prepare_sqlite_dir(url)
    try:
        db = Database(url)
        if create and db._is_empty():
            db.upgrade(only_if_empty=True)
        current, head = db.current_revision(), SCHEMA_REVISION
    except ArgumentError as exc:
        raise StorageError(f"database url {_safe(url)!r} is not valid: {exc}") from None
    except ModuleNotFoundError as exc:
        raise StorageError(f"database driver not installed for {_safe(url)}: {exc}") from None
    except OperationalError as exc:
        raise StorageError(f"cannot open database {_safe(url)}: {_first_line(exc)}") from None
    except SQLAlchemyError as exc:
        raise StorageError(f"database {_safe(url)}: {_first_line(exc)}") from None
    if current != head:
        db.dispose()
        raise SchemaOutOfDate(
            f"database schema is at revision {current or 'none'}, this newsrelay needs {head}: "
            "run `newsrelay db upgrade`"
        )
    return db


POSTGRES_CONNECT_TIMEOUT_S = 10


POSTGRES_KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 5,
    "keepalives_interval": 2,
    "keepalives_count": 3,
    "tcp_user_timeout": 15_000,  # ms a sent packet may stay unacknowledged
}


def _create_engine(url: str) -> Engine:
    if url.startswith("sqlite"):
        engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})
        event.listen(engine, "connect", _sqlite_on_connect)
        event.listen(engine, "begin", _sqlite_on_begin)
        return engine
    connect_args = {}
    if url.startswith("postgresql") and "connect_timeout" not in url:
        # libpq waits for an unanswering server as long as TCP lets it (minutes): a wrong
        # host or a firewall that drops packets should be one line, soon.
        connect_args["connect_timeout"] = POSTGRES_CONNECT_TIMEOUT_S
    if url.startswith("postgresql"):
        # A server gone silent (a dropped network, a host that died) must not hold a query,
        # or the cluster's lock connection, forever: TCP notices within about 15 s.
        connect_args.update(POSTGRES_KEEPALIVES)
    return create_engine(url, pool_pre_ping=True, connect_args=connect_args)


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (see _sqlite_on_begin).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
    cursor.execute("PRAGMA journal_mode = WAL")
    cursor.execute("PRAGMA synchronous = NORMAL")
    cursor.execute("PRAGMA foreign_keys = ON")
    # Debian's SQLite zeroes every freed page, an extra page write each: full-text index
    # merges and the band index's merges (storage.near_index) free many. FAST still clears
    # deleted rows inside pages that are written anyway.
    cursor.execute("PRAGMA secure_delete = FAST")
    cursor.close()


def _sqlite_on_begin(conn: Any) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _prepare_sqlite_dir(url: str) -> None:
    """Create a SQLite file's directory; refuse a file or directory newsrelay cannot write.

    SQLite opens a read-only file without complaint and fails at the first write (a crawl
    would get as far as its first article), and in WAL mode it needs to create its -wal and
    -shm files beside the database: both are said here, before any work, in one line.
    """
    prefix = "sqlite:///"
    if url.startswith(prefix) and ":memory:" not in url:
        path = Path(url[len(prefix) :].split("?", 1)[0])
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StorageError(f"cannot create directory for {path}: {exc}") from None
        if path.exists() and not os.access(path, os.R_OK | os.W_OK):
            raise StorageError(
                f"database file {path} is not writable (newsrelay writes to it): "
                "check its permissions and that its file system is not read-only"
            )
        if not os.access(path.parent, os.W_OK | os.X_OK):
            raise StorageError(
                f"directory {path.parent} is not writable: SQLite keeps its -wal and -shm "
                "files beside the database"
            )


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]
