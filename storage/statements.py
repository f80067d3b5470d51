"""Statement helpers shared by storage's modules: INSERT ... ON CONFLICT DO NOTHING built
once per shape, and chunks of values for IN lists."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from sqlalchemy import Table
from sqlalchemy.orm import Session

CHUNK = 500


def chunks(values: list[Any]) -> Iterator[list[Any]]:
    """``values`` in slices small enough for one IN list."""
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def insert_ignore(
    session: Session,
    model: type[Any],
    rows: list[dict[str, Any]],
    conflict_columns: list[str] | None,
    returning: str | None = None,
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING; return the ``returning`` column of inserted rows.

    A Core statement on the table, executed with the rows as parameters: compiled once and
    cached, where an ORM multi-VALUES insert was compiled anew for every article (it was
    the single largest CPU cost of a crawl).
    """
    if not rows:
        return []
    # Sorted keys keep lock order stable across writers (PostgreSQL deadlocks otherwise).
    if conflict_columns:
        rows = sorted(rows, key=lambda r: tuple(str(r[c]) for c in conflict_columns))
    dialect = session.get_bind().dialect.name
    statement = insert_statement(dialect, model.__table__, tuple(conflict_columns or ()), returning)
    if returning is None:
        session.execute(statement, rows)
        return []
    if len(rows) == 1:
        return list(session.scalars(statement, rows[0]))
    return list(session.scalars(statement, rows))


@lru_cache(maxsize=64)
def insert_statement(
    dialect: str, table: Table, conflict_columns: tuple[str, ...], returning: str | None
) -> Any:
    """Built once per shape: reusing the statement object spares SQLAlchemy its cache-key walk."""
    # Imported here: a SQLite user's process need not load the PostgreSQL dialects.
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql as module
    else:
        from sqlalchemy.dialects import sqlite as module  # type: ignore[no-redef]
    statement = module.insert(table).on_conflict_do_nothing(
        index_elements=list(conflict_columns) or None
    )
    return statement.returning(table.c[returning]) if returning else statement
