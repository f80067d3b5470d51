"""What every crawl in one process shares, opened and closed in one place: the database, the
extraction worker pool and the storage thread.

``newsrelay crawl``, ``newsrelay run`` and a plain ``scrapy crawl source`` all get theirs from
:func:`open_services`; nothing else creates or shuts down a :class:`~crawler.workers.Pool`.
Light to import on purpose: the CLI opens the services (and forks the workers' zygote) before
Scrapy is imported, while the process is small and runs one thread.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from crawler.config import Config, SourceConfig
from crawler.storage_thread import StorageThread
from crawler.workers import Pool
from storage.db import Database, open_database
from storage.sources import unvalidated_feeds


@dataclass(frozen=True)
class Services:
    db: Database
    pool: Pool
    storage: StorageThread  # the thread every database call of the crawls runs in


@contextmanager
def open_services(config: Config, db: Database | None = None) -> Iterator[Services]:
    """The database (``db``, else opened from the config and closed at the end), a worker
    pool whose zygote starts now, and the storage thread; all closed at the end, whatever
    happened."""
    owned = db is None
    database = open_database(config.database.url) if db is None else db
    pool = Pool(config.fetch.extract_processes, config.fetch.extract_timeout)
    try:
        pool.start_now()  # before the storage thread: a process with one thread forks
        storage = StorageThread(database)
        try:
            yield Services(database, pool, storage)
        finally:
            # What is still queued gets as long as the crawls did: a database another
            # process holds locked cannot keep a stopping daemon for 30 s more.
            storage.close(config.daemon.stop_timeout_delta.total_seconds())
    finally:
        pool.shutdown()
        if owned:
            database.dispose()


def warm_for(services: Services, sources: Sequence[SourceConfig], *, refetch: bool) -> None:
    """Have the zygote import the extraction stack now, on another core, when a crawl of
    ``sources`` will surely have something to parse: a refetch, a sitemap or a listing, a feed
    that never answered a conditional GET. Otherwise only once a feed brings something."""
    certain = refetch or any(s.sitemaps or s.listings for s in sources)
    if certain or unvalidated_feeds(services.db, [(s.name, s.feeds) for s in sources]):
        services.pool.warm()
