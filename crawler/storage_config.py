"""``[storage]``: how long what is stored is kept (``storage.retention`` does the deleting),
and what is kept beside the articles (their raw pages, for ``newsrelay reextract``).

Intervals are the config's usual ``"90d"``, ``"12h"``. ``"0"``: articles and their dedup keys
are kept for ever, and no raw page is kept.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from pydantic import AfterValidator

from crawler.config_types import Strict, Window
from crawler.dates import parse_interval, parse_window

# The least time a deleted article's dedup keys are kept: feeds list a story for days, but a
# site's sitemap, its archive listings and "from our archive" republishing bring old stories
# back for months; half a year of keys costs about a kilobyte per deleted article.
MIN_KEEP_DEDUP_KEYS = timedelta(days=180)


def _check(value: str) -> str:
    if value != "0":
        try:
            parse_interval(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not an interval like '90d' or '12h' ('0': for ever)"
            ) from None
    return value


KeptFor = Annotated[str, AfterValidator(_check)]


def kept_for(value: str | None) -> timedelta | None:
    """``"90d"`` -> 90 days; ``"0"`` or None -> None (for ever)."""
    return None if value in (None, "0") else parse_interval(value)


class StorageConfig(Strict):
    # Articles stored (fetched_at) longer ago than this are deleted, with their copies,
    # deliveries, search rows and unshared image files. "0": for ever.
    keep_articles: KeptFor = "0"
    # How long a deleted article's dedup keys (its tombstone) still recognise its story,
    # counted from the deletion. Default: the longer of keep_articles and 180 days. "0": for
    # ever.
    keep_dedup_keys: KeptFor | None = None

    # Each stored article's page as fetched, compressed, for `newsrelay reextract`; "0": none.
    keep_raw: Window = "14d"

    @property
    def keep_raw_delta(self) -> timedelta | None:
        return parse_window(self.keep_raw)

    @property
    def keep_articles_delta(self) -> timedelta | None:
        return kept_for(self.keep_articles)

    @property
    def keep_dedup_keys_delta(self) -> timedelta | None:
        if self.keep_dedup_keys is not None:
            return kept_for(self.keep_dedup_keys)
        return max(self.keep_articles_delta or timedelta(0), MIN_KEEP_DEDUP_KEYS)
