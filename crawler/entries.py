"""Which entries of a feed, sitemap or listing page are worth asking storage about: a pure
function from what the start point listed to canonical, in-scope candidates.

Storage then says which candidates are already known (``storage.articles.known_entries``,
one call per start point); the rest are fetched.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import urlsplit

from scrapy.http import TextResponse

from crawler.editorial import Editing
from crawler.feed_parser import FeedEntry
from crawler.scope import in_scope
from crawler.urls import BadURL, canonical_url
from storage.records import EntryIdentity


@dataclass(frozen=True)
class Candidate:
    """An entry whose page may be fetched: its canonical URL and URL id, and the editorial
    filter that drops it before the fetch, if one does; or a stored article whose entry was
    updated (``revision_of``: its id), fetched again as a correction."""

    url: str
    entry: FeedEntry
    url_id: str | None
    dropped_by: str | None = None
    revision_of: int | None = None

    @property
    def identity(self) -> EntryIdentity:
        return EntryIdentity(self.url, self.entry.guid, self.url_id)


@dataclass
class EntrySelection:
    candidates: list[Candidate] = field(default_factory=list)  # one per canonical URL
    unusable: list[str] = field(default_factory=list)  # why an entry's link cannot be fetched
    offsite: Counter[str] = field(default_factory=Counter)  # hosts out of the source's scope


def select_entries(
    entries: Sequence[FeedEntry],
    domains: Collection[str],
    url_id: Callable[[str], str | None],
    editing: Editing | None = None,
) -> EntrySelection:
    """The entries worth fetching: links made canonical, out-of-scope hosts counted (not
    followed), the first entry of each canonical URL kept. ``url_id`` is the source's rule;
    ``editing`` judges each entry's URL and title (``Candidate.dropped_by``)."""
    selection = EntrySelection()
    seen: set[str] = set()
    for entry in entries:
        try:
            url = canonical_url(entry.link)
        except BadURL as exc:
            selection.unusable.append(str(exc))
            continue
        host = urlsplit(url).hostname or ""
        if not in_scope(host, domains):
            selection.offsite[host] += 1
            continue
        if url not in seen:
            seen.add(url)
            dropped_by = editing.before_fetch(url, entry.title) if editing else None
            selection.candidates.append(Candidate(url, entry, url_id(url), dropped_by))
    return selection


def trust_guids(entries: list[FeedEntry]) -> list[FeedEntry]:
    """``entries``, without their GUIDs when the feed gives one GUID to entries with
    different links (a broken feed: its GUIDs identify nothing)."""
    links_by_guid: dict[str, str] = {}
    for entry in entries:
        if entry.guid and links_by_guid.setdefault(entry.guid, entry.link) != entry.link:
            return [replace(e, guid=None) for e in entries]
    return entries


def page_canonical(url: str | None) -> str | None:
    """A page's rel=canonical / og:url, canonical, unless it is unusable as an article's
    address: sites that point every article's canonical at their home page exist, and
    trusting that would merge all their stories into one."""
    canonical = canonical_or_none(url) if url else None
    return None if canonical is None or urlsplit(canonical).path in ("", "/") else canonical


def canonical_or_none(url: str) -> str | None:
    try:
        return canonical_url(url)
    except BadURL:
        return None


def listing_links(response: TextResponse, selector: str) -> list[str]:
    """The absolute http(s) links the listing's ``selector`` matches, but links into the
    listing itself (share buttons, ``#comments``), which are no articles."""
    links = []
    here = canonical_or_none(response.url)
    for element in response.css(selector):
        hrefs = element.xpath("self::a/@href").getall() or element.css("a::attr(href)").getall()
        for href in hrefs:
            link = response.urljoin(href.strip())
            if urlsplit(link).scheme in ("http", "https") and canonical_or_none(link) != here:
                links.append(link)
    return links
