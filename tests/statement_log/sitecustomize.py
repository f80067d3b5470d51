"""Imported at start-up by a Python process whose PYTHONPATH has this directory (tests that
run the daemon put it there): every SQL statement and commit of any SQLAlchemy engine of the
process, appended to the file NEWSRELAY_TEST_SQL_LOG names, one JSON line each (time, what, thread):
a transaction is the statements of one thread up to its COMMIT, as the daemon's threads
(its storage thread, the prune at start-up) write at the same time."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine

_PATH = os.environ.get("NEWSRELAY_TEST_SQL_LOG")
_LOCK = threading.Lock()


def _write(what: str) -> None:
    assert _PATH is not None
    with _LOCK, Path(_PATH).open("a", encoding="utf-8") as log:
        log.write(json.dumps([time.time(), what, threading.get_ident()]) + "\n")


def _statement(_conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
    if not sql.lstrip().upper().startswith("BEGIN"):  # the transaction, not a statement
        _write(" ".join(sql.split()))


def _commit(_conn: Any) -> None:
    _write("COMMIT")


if _PATH:
    event.listen(Engine, "before_cursor_execute", _statement)
    event.listen(Engine, "commit", _commit)
