"""What the console's routes need from the process that serves them."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from crawler.config import Config
from storage.db import Database


class UnknownSource(Exception):
    pass


class CrawlsOff(Exception):
    """This process runs no crawls (``newsrelay serve``)."""


# Run a source now; the id of its run (a new queued one, or the one going).
Trigger = Callable[[str], int]


@dataclass
class Context:
    config: Callable[[], Config]  # the current config (a reload may change it)
    db: Database
    trigger: Trigger | None = None  # None: POST /api/sources/{name}/crawl answers 409
