"""``newsrelay reextract``: the kept raw pages (``storage.raw_pages``) through the page
pipeline again, with their sources' current rules (``[sources.extract]``, rewrites,
dropped paragraphs, the learnt template), in this process and without a request to any
site. A page whose title or text comes out different is saved as a new revision of its
article, the same path as a correction found by a crawl (``storage.revisions``): exported
again as unpublished, queued again for its destinations.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

from crawler.config import Config, SourceConfig
from crawler.editorial import editing_for
from crawler.extracted import LeadImage
from crawler.processing import process_page
from crawler.templates import BOILERPLATE_PAGES
from storage.articles import save_articles
from storage.db import Database
from storage.raw_pages import kept_pages, prune_raw_pages
from storage.records import ArticleRecord, KeptPage
from storage.templates import source_template


@dataclass
class Reextracted:
    """What one ``reextract`` did."""

    pages: int = 0  # kept pages extracted again
    changed: int = 0  # ... whose article got a new revision
    unchanged: int = 0  # ... whose title and text came out the same (or another's text)
    no_text: int = 0  # ... with no text now (the article keeps its text)
    pruned: int = 0  # raw pages deleted, older than storage.keep_raw


def reextract(
    config: Config, db: Database, source: str | None = None, since: datetime | None = None
) -> Reextracted:
    """Delete the raw pages past ``storage.keep_raw`` (all of them when it is "0"), then
    extract the kept pages of ``source`` (or of every configured source) fetched since
    ``since`` again and save what changed."""
    chosen = [config.source(source)] if source else list(config.sources)
    extractors = {s.name: _extractor(config, db, s) for s in chosen}
    keep = config.storage.keep_raw_delta
    done = Reextracted(pruned=prune_raw_pages(db, datetime.now(UTC) - keep if keep else None))
    after = 0
    while batch := kept_pages(db, list(extractors), since, after=after):
        after = batch[-1].article_id
        records = []
        for kept in batch:
            record = extractors[kept.source](kept)
            done.pages += 1
            if record is None:
                done.no_text += 1
            else:
                records.append(record)
        for result in save_articles(db, records):
            if result.outcome == "revised":
                done.changed += 1
            else:
                done.unchanged += 1
    return done


def _extractor(
    config: Config, db: Database, source: SourceConfig
) -> Callable[[KeptPage], ArticleRecord | None]:
    """A kept page of ``source`` -> its article's record as the current rules make it (a
    revision to save), or None when they find no text."""
    editing = editing_for(config.filters, source)
    template = None
    if source.learn_template:
        seen = source_template(db, source.name)
        template = frozenset(k for k, s in seen.items() if s.pages >= BOILERPLATE_PAGES)

    def extract(kept: KeptPage) -> ArticleRecord | None:
        raw = kept.page
        page = process_page(
            raw.body,
            raw.content_type,
            raw.url,
            None,  # the feed's own text is not kept: a page without text stays as it was
            config.dedup.near_duplicates,
            source.extract,
            editing,
            kept.article_url,
            raw.entry_title,
            template,
            raw.entry_language,
            LeadImage(raw.entry_image) if raw.entry_image else None,
        )
        if page.keys is None:
            return None
        return ArticleRecord(
            source_id=kept.source_id,
            url=kept.article_url,
            original_url=kept.article_url,
            title=page.title or "",
            text=page.text,
            html=page.html,
            content_hash=page.keys.content_hash,
            fetched_at=datetime.now(UTC),
            near=page.keys.near,
            revision_of=kept.article_id,
        )

    return extract
