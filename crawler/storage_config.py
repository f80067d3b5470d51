"""``[storage]``: what is kept beside the articles."""

from __future__ import annotations

from datetime import timedelta

from crawler.config_types import Strict, Window
from crawler.dates import parse_window


class StorageConfig(Strict):
    # Each stored article's page as fetched, compressed, for `newsrelay reextract`; "0": none.
    keep_raw: Window = "14d"

    @property
    def keep_raw_delta(self) -> timedelta | None:
        return parse_window(self.keep_raw)
