"""A source's template, learnt from its own pages: paragraphs that recur across its recent
article pages (the same "follow us" line, teaser box, related-links block) are boilerplate,
dropped from its later pages' text and HTML before their dedup keys are computed.

The extraction workers drop them (``crawler.rewriting.drop_template``) and send back every
paragraph's fingerprint (``crawler.fingerprints.paragraph_key``); this process counts them per
page as the pages come back, so later pages of the same run benefit, and each page's
fingerprints are saved with its article (``storage.templates``; copies of a story stored
already count nothing, in either place), so the next run, in this
process or another, starts where this one stopped. A run reads the record at its first
article page: a poll that finds nothing new never touches it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from crawler.storage_thread import StorageThread
from storage.db import StorageError, open_database
from storage.records import ParagraphSeen
from storage.templates import KEEP_PER_SOURCE, source_template, template_paragraphs

# A paragraph on this many distinct pages of a source is its boilerplate. Two is what a story
# shares with its own follow-up or a copy of it in another section; three distinct articles
# sharing a paragraph word for word is the site's doing, not the writers'.
BOILERPLATE_PAGES = 3


@dataclass
class SourceTemplate:
    """One run's view of its source's template. ``apply``: drop its boilerplate from the
    pages (the source's ``learn_template``); ``learn``: count this run's pages (not when it
    refetches pages it has counted before). The default one does neither."""

    storage: StorageThread | None = None
    source_id: int | None = None
    apply: bool = False
    learn: bool = False
    _seen: dict[int, ParagraphSeen] | None = None
    _boilerplate: set[int] = field(default_factory=set)
    _loading: asyncio.Future[dict[int, ParagraphSeen]] | None = None

    async def boilerplate(self) -> frozenset[int] | None:
        """The fingerprints to drop from the next page (read from storage at the first
        call); None when the source learns no template."""
        if not self.apply:
            return None
        if self._seen is None:
            assert self.storage is not None and self.source_id is not None
            if self._loading is None:
                loading = self.storage.call(template_paragraphs, self.source_id)
                self._loading = asyncio.ensure_future(loading)
            try:
                seen = await self._loading
            except Exception:
                self._loading = None  # the next page tries again
                raise
            if self._seen is None:
                self._seen = dict(seen)
                self._boilerplate = {k for k, s in seen.items() if s.pages >= BOILERPLATE_PAGES}
        return frozenset(self._boilerplate)

    def to_save(self, paragraphs: tuple[int, ...]) -> tuple[int, ...]:
        """The fingerprints to save with a page's article (counted by storage if it is
        stored as new): none when this run does not learn."""
        return paragraphs if self.learn and self._seen is not None else ()

    def count(self, paragraphs: tuple[int, ...]) -> None:
        """Count one more page with ``paragraphs``: an article stored as new. A copy of a
        story counts nothing: one story at three addresses is not the site's template."""
        if not self.learn or self._seen is None or not paragraphs:
            return
        now = datetime.now(UTC)
        for key in paragraphs:
            before = self._seen.get(key)
            pages = before.pages + 1 if before else 1
            self._seen[key] = ParagraphSeen(pages, now)
            if pages >= BOILERPLATE_PAGES:
                self._boilerplate.add(key)
        if len(self._seen) > KEEP_PER_SOURCE * 5 // 4:
            self._forget_oldest()

    def _forget_oldest(self) -> None:
        """Keep the ``KEEP_PER_SOURCE`` most recently seen, as storage does."""
        assert self._seen is not None
        recent = sorted(self._seen.items(), key=lambda item: item[1].last_seen, reverse=True)
        self._seen = dict(recent[:KEEP_PER_SOURCE])
        self._boilerplate &= self._seen.keys()


def stored_boilerplate(database_url: str, source: str) -> frozenset[int] | None:
    """The boilerplate stored for ``source`` (for ``newsrelay extract --source``), or None
    when there is no database to read it from: a SQLite file that does not exist is not
    created, and a database that cannot be read is no error for a look at one page."""
    if database_url.startswith("sqlite:///") and not Path(database_url[10:]).is_file():
        return None
    try:
        db = open_database(database_url, create=False)
    except StorageError:
        return None
    try:
        seen = source_template(db, source)
    except StorageError:
        return None
    finally:
        db.dispose()
    return frozenset(key for key, s in seen.items() if s.pages >= BOILERPLATE_PAGES)
