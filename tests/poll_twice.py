"""Crawl one source twice in one process, as the daemon does, and write what the second
crawl said to the database:
``python -m tests.poll_twice CONFIG SOURCE OUT [--due-only] [--between SQL]``.

``--between SQL``: another connection executes SQL between the two crawls (another process
changing the source's state), and a third crawl follows the second.

OUT gets JSON: both crawls' summaries, the SQL statements the second one executed (BEGIN left
out: it is the transaction, not a statement) and how many commits it made, counted with
SQLAlchemy's engine events on the process's own engine.
"""

from __future__ import annotations

import json
import sys
import threading
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, text

from crawler.config import load_config
from crawler.services import open_services
from crawler.source_run import CrawlOptions


class Counter:
    def __init__(self) -> None:
        self.on = False
        self.statements: list[str] = []
        self.commits = 0
        self.lock = threading.Lock()

    def statement(self, _conn: Any, _cursor: Any, sql: str, *_: Any) -> None:
        if self.on and not sql.lstrip().upper().startswith("BEGIN"):
            with self.lock:
                self.statements.append(" ".join(sql.split()))

    def commit(self, _conn: Any) -> None:
        if self.on:
            with self.lock:
                self.commits += 1


def main(config_path: str, name: str, out: str, *flags: str) -> None:
    config = load_config(config_path)
    options = CrawlOptions(due_only="--due-only" in flags)
    between = flags[flags.index("--between") + 1] if "--between" in flags else None
    counter = Counter()
    with open_services(config) as services:
        event.listen(services.db.engine, "before_cursor_execute", counter.statement)
        event.listen(services.db.engine, "commit", counter.commit)
        from crawler.crawls import Crawls, crawl_sources
        from crawler.reactor import run_in_reactor

        source = config.source(name)

        async def twice() -> list[dict[str, Any]]:
            crawls = Crawls.create(config, services)
            results = await crawl_sources(crawls, [source], options=options)
            if between is not None:
                other_process(config.database.url, between)
            counter.on = True
            results += await crawl_sources(crawls, [source], options=options)
            counter.on = False
            if between is not None:
                results += await crawl_sources(crawls, [source], options=options)
            return [result.summary() for result in results]

        summaries = run_in_reactor(twice(), on_first_signal=lambda: None)
    report = {
        "summaries": summaries,
        "statements": counter.statements,
        "commits": counter.commits,
    }
    Path(out).write_text(json.dumps(report, indent=1), encoding="utf-8")


def other_process(url: str, sql: str) -> None:
    engine = create_engine(url)
    try:
        with engine.begin() as conn:
            conn.execute(text(sql))
    finally:
        engine.dispose()


if __name__ == "__main__":
    main(*sys.argv[1:])
