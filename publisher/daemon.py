"""The daemon's deliveries: a thread of its own, so a slow or dead destination never holds up
a crawl. It runs a delivery pass (``publisher.run.publish``) when a run has stored something
and every ``TICK`` seconds (retries fall due), and stops after the delivery in flight."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from crawler.config import Config
from publisher.run import publish
from storage.db import Database, StorageError

logger = logging.getLogger(__name__)

TICK = 10.0  # seconds between two passes when no run wakes the thread


class DeliveryLoop:
    def __init__(self, config: Callable[[], Config], db: Database) -> None:
        self.config = config  # the daemon's current config (a reload may change it)
        self.db = db
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="deliveries", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def poke(self) -> None:
        """Something was stored: deliver it now rather than at the next tick."""
        self._wake.set()

    def stop(self, timeout: float) -> None:
        """No new delivery; wait up to ``timeout`` for the one in flight."""
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
            if self._thread.is_alive():
                logger.warning("a delivery still in flight at stop: it is retried next time")

    def _serve(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(TICK)
            self._wake.clear()
            config = self.config()
            if self._stop.is_set() or not config.destinations:
                continue
            try:
                publish(config, self.db, stop=self._stop)
            except StorageError as exc:  # the database is away: the next pass tries again
                logger.error("deliveries paused: %s", exc)
            except Exception:
                logger.exception("delivery pass crashed; the next one tries again")
