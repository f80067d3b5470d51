"""The original stories: real feed entries of the repository's test corpus."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import lxml.etree
import lxml.html
import numpy as np

from crawler.feed_parser import parse_feed
from crawler.fingerprints import text_keys

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = REPO / "tests" / "corpus" / "feeds"
SKIP_FORMATS = ("json", "feedparser-testcase")
MIN_WORDS = 120

# Pairs of corpus entries (by label) that are really the same story, found by reading every
# near-merge among originals and every pair with the same title. Merging them is correct.
_VERGE = "arminreiter__FeedReader/FeedReader.Tests/Feeds/"
# (AtomTheVerge.xml entry, AtomVergeAllPosts.xml entry, title): two snapshots of The Verge's
# feed carry the same eight posts, one as a ~130-word excerpt ending in "Continue reading...".
_VERGE_PAIRS = (
    (0, 0, "This is the new Hulu experience with live TV"),
    (1, 1, "The Verge Awards at CES 2017: Hi, Alexa"),
    (2, 2, "Russia is erasing LinkedIn from app stores"),
    (3, 3, "Watch Nick Offerman react to the nonsense gadgets of CES 2017"),
    (4, 4, "15 questions and answers about Underworld: Blood Wars"),
    (5, 5, "I played Battlefield on Razer's three-screen laptop"),
    (6, 6, "New York City's closest nuclear power plant may close in five years"),
    (7, 8, "Fitbit plans to launch its own app store this year"),
)
SAME_STORY: dict[frozenset[str], str] = {
    frozenset((f"{_VERGE}AtomTheVerge.xml#{a}", f"{_VERGE}AtomVergeAllPosts.xml#{b}")): (
        f"The Verge, '{title}': feed excerpt and full text of one post"
    )
    for a, b, title in _VERGE_PAIRS
}
# Inspected and judged distinct (so a merge of them counts as a false positive):
# - rbren__rss-parser/test/input/many-links.rss #6 and #24, "GTAC Diversity Scholarship" 2016
#   (Sunnyvale, June deadline) and 2017 (London, July deadline): next year's announcement
#   written over last year's text, Jaccard ~0.72;
# - AtomBattleNet.xml #0 and #1: StarCraft II balance notes of two different patches, ~0.35;
# - the YouTube, TypePad and Google Testing Blog entries that share a channel's promo block or
#   a column's intro and outro (they only meet in the template and boilerplate negatives).

_BLOCK_TAGS = frozenset(
    {
        *("p", "div", "br", "hr", "li", "ul", "ol", "dl", "dd", "dt", "pre", "blockquote"),
        *("h1", "h2", "h3", "h4", "h5", "h6", "table", "tr", "td", "th", "address"),
        *("section", "article", "aside", "header", "footer", "main", "nav"),
        *("figure", "figcaption"),
    }
)


@dataclass(frozen=True)
class Story:
    """One original article text from a real feed entry."""

    label: str  # "<corpus file>#<entry index>": stable across runs
    outlet: str  # the outlet's name, e.g. "The Guardian"
    site: str  # its host, e.g. "theguardian.com" (may be empty)
    title: str
    paragraphs: tuple[str, ...]

    @property
    def text(self) -> str:
        return "\n\n".join(self.paragraphs)

    @property
    def words(self) -> int:
        return sum(len(p.split()) for p in self.paragraphs)


def same_story(a: str | None, b: str | None) -> bool:
    """Are labels ``a`` and ``b`` (a copy's label has a ``copy:`` prefix) one story?"""
    if a is None or b is None:
        return False
    a, b = a.removeprefix("copy:"), b.removeprefix("copy:")
    return a == b or frozenset((a, b)) in SAME_STORY


def html_paragraphs(html: str) -> list[str]:
    """Text of an HTML fragment as paragraphs: block elements and <br> end a paragraph."""
    try:
        root = lxml.html.fragment_fromstring(html, create_parent="div")
    except (lxml.etree.ParserError, ValueError):
        return []
    for element in list(root.iter("script", "style")):
        element.drop_tree()
    for element in root.iter():
        if isinstance(element.tag, str) and element.tag.lower() in _BLOCK_TAGS:
            element.tail = "\n" + (element.tail or "")
            if element.tag.lower() != "br":
                element.text = "\n" + (element.text or "")
    lines = (" ".join(line.split()) for line in root.text_content().split("\n"))
    return [line for line in lines if line]


def _outlet_name(outlet: str, fallback: str) -> tuple[str, str]:
    """'The Guardian [theguardian.com]' -> ('The Guardian', 'theguardian.com')."""
    name, _, rest = outlet.partition(" [")
    site = rest.rstrip("]") if rest else ""
    name = name.strip()
    if not name or name == "(none)":
        name = site or fallback
    return name[:64], site


def load_stories(corpus: Path = DEFAULT_CORPUS) -> list[Story]:
    """Every distinct feed entry text of >= MIN_WORDS words, in manifest order.

    Entries are parsed with ``crawler.feed_parser.parse_feed``; texts identical after the
    fingerprints' normalization (same ``content_hash``) are kept once.
    """
    with (corpus / "MANIFEST.tsv").open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    seen: set[str] = set()
    stories: list[Story] = []
    for row in rows:
        if row["format"] in SKIP_FORMATS:
            continue
        body = (corpus / row["file"]).read_bytes()
        parsed = parse_feed(body, f"https://feeds.invalid/{row['file']}", "text/xml")
        outlet, site = _outlet_name(row["outlet"], Path(row["file"]).parent.name)
        for index, entry in enumerate(parsed.entries):
            if not entry.content_html:
                continue
            paragraphs = tuple(html_paragraphs(entry.content_html))
            story = Story(f"{row['file']}#{index}", outlet, site, entry.title or "", paragraphs)
            if story.words < MIN_WORDS:
                continue
            digest = text_keys(story.text).content_hash  # identical after normalization
            if digest in seen:
                continue
            seen.add(digest)
            stories.append(story)
    return stories


def sample_stories(stories: Sequence[Story], limit: int | None, seed: int) -> list[Story]:
    """``limit`` of ``stories`` drawn with ``seed``, in their original order (all: None)."""
    if limit is None or limit >= len(stories):
        return list(stories)
    chosen = np.random.default_rng([seed, 0]).choice(len(stories), size=limit, replace=False)
    return [stories[int(i)] for i in sorted(chosen)]
