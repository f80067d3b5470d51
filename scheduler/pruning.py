"""The daemon's (and the cluster leader's) retention: a thread of its own that prunes
(``storage.retention.prune``) at start and every :data:`PRUNE_EVERY`, so a long prune never
holds up a crawl or a delivery, and stops between two batches."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path

from crawler.config import Config
from storage.db import Database, StorageError
from storage.retention import Retention, prune

logger = logging.getLogger(__name__)

PRUNE_EVERY = 3600.0  # seconds


def retention_of(config: Config) -> Retention:
    """``[storage]``'s keep_articles, keep_dedup_keys and keep_raw, and ``[images]``'s
    directory."""
    images = Path(config.images.directory) if config.images.directory else None
    storage = config.storage
    return Retention(
        storage.keep_articles_delta,
        storage.keep_dedup_keys_delta,
        images,
        keep_raw=storage.keep_raw_delta,
    )


class PruneLoop:
    def __init__(self, config: Callable[[], Config], db: Database) -> None:
        self.config = config  # the current config (a reload may change it)
        self.db = db
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="prune", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float) -> None:
        """No new batch; wait up to ``timeout`` for the one in flight."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                prune(self.db, retention_of(self.config()), stop=self._stop)
            except StorageError as exc:  # the database is away: the next prune tries again
                logger.error("prune failed: %s", exc)
            except Exception:
                logger.exception("prune crashed; the next one tries again")
            self._stop.wait(PRUNE_EVERY)
