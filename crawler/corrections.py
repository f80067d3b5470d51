"""Corrections: which stored articles of a start point are fetched again because their entry
was updated (the feed's updated time or the sitemap's lastmod moved) within the source's
``update_window`` of their first storing. Their pages then go through the same pipeline as
new ones, and are saved as revisions (``storage.revisions``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime

from crawler.dates import parse_window
from crawler.entries import Candidate
from crawler.source_run import SourceRun
from storage.revisions import revisions_due


async def corrections(run: SourceRun, stored: Sequence[Candidate]) -> list[Candidate]:
    """Of ``stored`` candidates (known already), those to fetch again as a revision of their
    article (``Candidate.revision_of``): none when the window is off ("0"), for a refetch
    (which fetches everything anyway), or for an entry a filter now drops."""
    window = parse_window(run.source.update_window)
    updated = {c.url: c.entry.updated_at for c in stored if c.entry.updated_at and not c.dropped_by}
    if window is None or not updated or run.options.refetch:
        return []
    assert run.ids is not None
    since = datetime.now(UTC) - window
    due = await run.storage.call(revisions_due, run.ids.source_id, updated, since)
    return [replace(c, revision_of=due[c.url]) for c in stored if c.url in due]
