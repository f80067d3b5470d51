"""Near-duplicate detection, measured: precision/recall on real feed text and cost at scale.

Part 1 (quality) builds a labelled set from the real feeds in the shared corpus: every entry
with 120 or more words of text is an original story; each original gets one republished copy
(light, medium or heavy edits); negatives are the originals themselves (no two distinct
stories may merge), distinct stories sharing a boilerplate block, and short stories sharing an
outlet template or a fill-in-the-blanks template. Everything is saved through
``storage.repository.save_article`` into fresh SQLite databases with a low threshold (0.3), so
that the recorded similarities answer "what would threshold T have done" for every T >= 0.3.

Part 2 (cost) fills a database with synthetic articles (the rows ``save_articles`` writes,
inserted in bulk; ``--fill api`` goes through ``save_articles`` itself, slower) and times
``save_article`` one by one at 10,000 and 100,000 stored articles (the LSH index must keep
this flat), one ``save_articles`` batch, and ``text_keys`` alone. SQLite by default;
``--db-url postgresql+psycopg://...`` for PostgreSQL (the bench works in a schema of its own
there, dropped afterwards; ``public`` is not touched).

Deterministic: equal ``--seed`` gives equal texts, labels and quality figures (timings vary).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import re
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import lxml.etree
import lxml.html
import numpy as np
from sqlalchemy import Table, create_engine, func, insert, select, text
from sqlalchemy.engine import make_url

from crawler.feed_parser import parse_feed
from crawler.fingerprints import TextKeys, jaccard, text_keys
from storage.articles import _NEAR_CANDIDATES, _article_row, save_article, save_articles
from storage.db import Database, open_database
from storage.models import Article, ArticleUrl, NearKey
from storage.records import ArticleRecord, SaveResult
from storage.sources import ensure_source

CORPUS = Path("/work/shared/corpus/feeds")
SKIP_FORMATS = ("json", "feedparser-testcase")
MIN_WORDS = 120
T_LOW = 0.3
THRESHOLDS = (0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9)
LEVELS = ("light", "medium", "heavy")
BOILERPLATE_PAIRS = 100
DEFAULT_SEED = 20240611
COST_THRESHOLD = 0.7
COST_BATCH = 500
COST_PROBES = 500
PG_SCHEMA = "newsrelay_neardup_bench"
FETCHED_AT = datetime(2024, 6, 11, 8, 0, tzinfo=UTC)

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


# -- machine ---------------------------------------------------------------------------------
def machine_info() -> dict[str, Any]:
    """CPU model, cores, load, Python and SQLite versions."""
    model = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "cores_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "loadavg_at_start": _loadavg(),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "sqlite": sqlite3.sqlite_version,
        "numpy": np.__version__,
        "platform": platform.platform(),
    }


def code_version() -> dict[str, Any]:
    """The git commit measured, and whether the dedup code differs from it."""
    root = Path(__file__).resolve().parent.parent

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10, check=True
            )
        except (OSError, subprocess.SubprocessError):
            return None
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "crawler/fingerprints.py", "storage")
    return {
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_dedup_changes": changed.splitlines() if changed else [],
    }


def _loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text(encoding="utf-8").split()[:3])
    except OSError:
        return ""


# -- the corpus -------------------------------------------------------------------------------
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


def load_stories(corpus: Path) -> list[Story]:
    """Every distinct feed entry text of >= MIN_WORDS words, in manifest order."""
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


# -- edits: republished copies ---------------------------------------------------------------
REPUBLISHERS = (
    "NewsBreak Digest",
    "World Wire Today",
    "Headline Hub",
    "The Morning Relay",
    "GlobalNewsFeed.net",
    "Daily Brief Network",
    "TechPulse Aggregator",
    "Nachrichten Kompakt",
)
_MONTHS = (
    *("January", "February", "March", "April", "May", "June", "July", "August"),
    *("September", "October", "November", "December"),
)
_WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


def _date_line(rng: np.random.Generator) -> str:
    when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=int(rng.integers(0, 525_600)))
    month, weekday = _MONTHS[when.month - 1], _WEEKDAYS[when.weekday()]
    formats = (
        f"Published: {month} {when.day}, {when.year} at {when:%H:%M} UTC",
        f"{when:%d.%m.%Y} | {when:%H:%M}",
        f"Updated {when:%Y-%m-%dT%H:%M:00Z}",
        f"{weekday} {when.day} {month} {when.year}",
        f"Posted on {when:%Y/%m/%d} by the newsdesk",
    )
    return formats[int(rng.integers(len(formats)))]


def _pick(rng: np.random.Generator, items: Sequence[str]) -> str:
    return items[int(rng.integers(len(items)))]


def _trim_end(paragraphs: list[str], rng: np.random.Generator) -> tuple[list[str], str]:
    """Drop the last paragraph when it is short enough, else the last ~15 % of the words."""
    total = sum(len(p.split()) for p in paragraphs)
    if len(paragraphs) >= 2 and len(paragraphs[-1].split()) <= 0.3 * total:
        return paragraphs[:-1], "last paragraph"
    cut = round(total * float(rng.uniform(0.13, 0.17)))
    kept: list[str] = []
    budget = total - cut
    for paragraph in paragraphs:
        words = paragraph.split()
        if budget <= 0:
            break
        kept.append(" ".join(words[:budget]))
        budget -= len(words)
    return kept, "last ~15% of words"


def _edit_words(
    paragraphs: list[str], rng: np.random.Generator, vocabulary: Sequence[str]
) -> tuple[list[str], int]:
    """Substitute or drop ~5 % of the words (half each); returns the count edited."""
    edited = 0
    result = []
    for paragraph in paragraphs:
        words = []
        for word in paragraph.split():
            roll = float(rng.random())
            if roll < 0.025:
                edited += 1  # dropped
            elif roll < 0.05:
                edited += 1
                words.append(_pick(rng, vocabulary))
            else:
                words.append(word)
        if words:
            result.append(" ".join(words))
    return result, edited


def _punctuation_noise(body: str, rng: np.random.Generator) -> str:
    """Whitespace and punctuation changes a CMS or a copy-paste introduces."""
    body = body.replace("\u2019", "'").replace("\u201c", '"').replace("\u201d", '"')
    dashes = (" - ", " \u2014 ") if rng.random() < 0.5 else (" \u2014 ", " - ")
    body = body.replace(*dashes)
    body = body.replace("...", "\u2026")
    pieces = body.split(",")
    body = pieces[0] + "".join(("," if rng.random() >= 0.3 else "") + p for p in pieces[1:])
    body = body.replace(". ", ".  ") if rng.random() < 0.5 else body
    return body.replace("\n\n", "\n" if rng.random() < 0.5 else "\n \n")


def republish(
    story: Story, level: str, rng: np.random.Generator, vocabulary: Sequence[str]
) -> tuple[str, dict[str, Any]]:
    """An edited republished copy of ``story`` and what was done to it."""
    site_line = _pick(rng, REPUBLISHERS)
    source_line = f"Source: {story.outlet}"
    date_line = _date_line(rng)
    paragraphs = list(story.paragraphs)
    detail: dict[str, Any] = {"level": level}
    if level in ("medium", "heavy"):
        paragraphs, detail["trimmed"] = _trim_end(paragraphs, rng)
    if level == "heavy":
        paragraphs, detail["words_edited"] = _edit_words(paragraphs, rng, vocabulary)
    body = "\n\n".join(paragraphs)
    if level == "heavy":
        body = _punctuation_noise(body, rng)
    if rng.random() < 0.5:
        copy = f"{site_line}\n\n{source_line}\n\n{date_line}\n\n{body}"
    else:
        copy = f"{site_line}\n\n{date_line}\n\n{body}\n\n{source_line}"
    detail["words"] = len(copy.split())
    return copy, detail


# -- negatives --------------------------------------------------------------------------------
BOILERPLATES = (
    "Sign up for our free morning newsletter and get the day's most important stories "
    "delivered straight to your inbox. You can unsubscribe at any time. By signing up you "
    "agree to our terms of use and acknowledge the data practices in our privacy policy.",
    "Copyright 2024 Northern Star Media Group. All rights reserved. This material may not be "
    "published, broadcast, rewritten or redistributed in whole or in part without prior "
    "written permission. Northern Star Media Group is not responsible for the content of "
    "external sites linked from this page.",
    "Follow us on Facebook, Twitter, Instagram and LinkedIn for the latest updates, and "
    "download our app to get breaking news alerts on your phone. Have a story tip? Contact our "
    "newsroom by email or through our secure tip line; we read every message we receive.",
    "Our journalism is supported by readers like you. If you value independent reporting, "
    "please consider becoming a member today: every contribution, however big or small, helps "
    "us keep our newsroom running and our stories free for everyone to read. Thank you for "
    "your support, it means the world to us.",
    "This article was produced as part of our partnership with the Regional News Exchange, a "
    "collaboration of more than forty local newsrooms sharing reporting on public affairs, "
    "education and the environment. Republication is permitted under the exchange's standard "
    "terms, provided the original byline and a link back are kept.",
    "Comments on this story are moderated according to our community guidelines. Please keep "
    "the conversation civil and on topic. Posts that contain personal attacks, spam or "
    "offensive language will be removed, and repeat offenders may be banned from commenting on "
    "the site.",
    "Get unlimited digital access for just one dollar a week for the first three months, then "
    "a low monthly rate. Cancel anytime. Already a subscriber? Log in to your account to keep "
    "reading, manage your newsletters and listen to audio versions of our stories.",
    "About the author: our staff reporters cover politics, business, technology, science and "
    "culture from bureaus around the world. Read more of their work on our website, listen to "
    "our daily podcast wherever you get your podcasts, and join the discussion in our reader "
    "forum.",
)
_NETWORK_HEADERS = (
    "Northern Star Media | Latest News",
    "Regional News Exchange - Shared Story",
    "The Daily Relay :: Top Stories",
    "Metro Wire | Breaking",
)


def boilerplate_variants(
    stories: Sequence[Story], rng: np.random.Generator, pairs: int
) -> list[tuple[Story, str, int]]:
    """(story, text, pair number): pairs of distinct stories given the same header and block.

    The shortest stories are used (the block is then the biggest share of the text, the hard
    case), each in one pair only; a block is shared by several pairs.
    """
    shortest = sorted(stories, key=lambda s: (s.words, s.label))[: 2 * pairs]
    order = rng.permutation(len(shortest))
    variants = []
    for number in range(len(order) // 2):
        block = BOILERPLATES[number % len(BOILERPLATES)]
        header = _NETWORK_HEADERS[number % len(_NETWORK_HEADERS)]
        for index in order[2 * number : 2 * number + 2]:
            story = shortest[int(index)]
            variants.append((story, f"{header}\n\n{story.text}\n\n{block}", number))
    return variants


_SECTIONS = ("News", "Business", "Technology", "Culture", "Sport", "Opinion", "Local")


def outlet_template_variants(
    stories: Sequence[Story], rng: np.random.Generator, max_pairs: int = 50
) -> list[tuple[Story, str, int]]:
    """Two ~130-word stories of one outlet in that outlet's fixed header and footer.

    Bodies are the first ~100 words of two different stories of the same outlet; the template
    (outlet line, section line, a ~30-word footer) is about a quarter of each text.
    """
    by_outlet: dict[str, list[Story]] = defaultdict(list)
    for story in stories:
        by_outlet[story.outlet].append(story)
    variants: list[tuple[Story, str, int]] = []
    number = 0
    for outlet in sorted(by_outlet):
        group = by_outlet[outlet]
        section = _pick(rng, _SECTIONS)
        site = group[0].site or outlet.lower().replace(" ", "") + ".example"
        footer = (
            f"Read more stories like this at {site}. Subscribe to the {outlet} newsletter for "
            f"a daily digest and follow us on social media. (c) 2024 {outlet}. All rights "
            "reserved."
        )
        for first, second in list(zip(group[0::2], group[1::2], strict=False))[:3]:
            for story in (first, second):
                body = _first_words(story.paragraphs, int(rng.integers(95, 106)))
                text_ = f"{outlet} | {section}\n\n{body}\n\n{footer}"
                variants.append((story, text_, number))
            number += 1
            if number >= max_pairs:
                return variants
    return variants


def _first_words(paragraphs: Sequence[str], count: int) -> str:
    kept = []
    for paragraph in paragraphs:
        words = paragraph.split()[:count]
        kept.append(" ".join(words))
        count -= len(words)
        if count <= 0:
            break
    return "\n\n".join(kept)


# Fill-in-the-blanks stories: one skeleton, different facts. Each filled text is its own story.
FILL_TEMPLATES: dict[str, str] = {
    "earnings": (
        "{company} reported {quarter} results on {weekday}, with revenue of {rev} billion "
        "dollars, {direction} {pct} percent from a year earlier and {versus} analysts' "
        "expectations of {est} billion. Net income came to {income} million dollars, or {eps} "
        "cents a share.\n\nShares of {company} {move} {mpct} percent in after-hours trading in "
        'New York. "{quote}," chief executive {ceo} said in a statement.\n\nThe company said '
        "it expects revenue of between {g1} and {g2} billion dollars in the coming quarter and "
        "will hold a call with analysts at {hour} o'clock Eastern time. The results follow a "
        "{adjective} year for the {sector} industry, which has faced higher costs, a shortage "
        "of skilled workers and softer demand from customers in Europe and Asia. This story "
        "will be updated."
    ),
    "match": (
        "{home} beat {away} {s1}-{s2} on {weekday} night in front of {crowd} fans at {venue}, "
        "moving up to {place} in the table with {games} games left to play.\n\n{scorer} opened "
        "the scoring in the {m1}th minute and {scorer2} added a second after the break before "
        "{visitor} pulled one back through {consolation} with {left} minutes remaining. "
        '"{quote}," said {coach}, the {home} manager, after the final whistle.\n\n{away} '
        "remain {their} and host {next_opponent} next {next_day}. The league said ticket sales "
        "for the remaining fixtures have been strong and that stadium safety checks will "
        "continue as planned. Highlights of the match are available on the official website "
        "and in the club's app."
    ),
    "weather": (
        "The National Weather Service has issued a {alert} for {county} County and surrounding "
        "areas until {hour} o'clock on {weekday} evening. Forecasters expect {amount} inches of "
        "{precip} and wind gusts of up to {wind} miles per hour, with the heaviest conditions "
        "between {start} and {end} o'clock.\n\nOfficials in {town} urged residents to stay off "
        "the roads where possible, keep phones charged and check on elderly neighbours. {count} "
        "schools announced closures or delayed openings, and the {utility} said crews were on "
        "standby to restore power if lines come down. Temperatures are forecast to reach a low "
        "of {low} degrees overnight before {recovery} later in the week. Check our live weather "
        "page for updates, radar maps and the latest closures."
    ),
}
_FILL_WORDS: dict[str, tuple[str, ...]] = {
    "company": (
        "Orion Systems",
        "Baltic Freight",
        "Greenfield Foods",
        "Kestrel Motors",
        "Lumen Pharma",
        "Atlas Retail",
        "Northwind Energy",
        "Copperleaf Bank",
    ),
    "quarter": ("first-quarter", "second-quarter", "third-quarter", "fourth-quarter"),
    "direction": ("up", "down"),
    "versus": ("beating", "missing", "roughly matching"),
    "move": ("rose", "fell", "jumped", "slipped"),
    "quote": (
        "We delivered another quarter of disciplined execution",
        "Demand softened but our teams adapted quickly",
        "This is the strongest result in our history",
        "We are confident in the long-term plan",
        "It was a hard-fought win and I am proud of the players",
        "We knew it would be difficult tonight",
    ),
    "ceo": ("Maria Lindqvist", "Tom Okafor", "Priya Raman", "Daniel Weber", "Sofia Marquez"),
    "adjective": ("difficult", "volatile", "strong", "mixed", "record"),
    "sector": ("logistics", "food", "car", "drug", "retail", "energy", "banking"),
    "home": (
        "Riverside United",
        "Castle Rovers",
        "Harbour City",
        "Northgate Athletic",
        "Westfield Town",
        "Kingsbridge FC",
    ),
    "away": (
        "Millbrook",
        "Eastport Wanderers",
        "Oakham Albion",
        "Stonebridge",
        "Port Vale Rangers",
        "Ashford Celtic",
    ),
    "venue": ("Riverside Park", "the Castle Ground", "Harbour Stadium", "Northgate Road"),
    "scorer": ("Luca Bianchi", "Sam Adeyemi", "Jonas Berg", "Kai Tanaka", "Ruben Costa"),
    "scorer2": ("Ethan Clarke", "Mateo Silva", "Noah Fischer", "Omar Haddad"),
    "consolation": (
        "a header from Leo Martin",
        "a penalty by Ivan Petrov",
        "a long-range strike from Ali Demir",
    ),
    "coach": ("Mark Evans", "Anna Kowalski", "Pedro Alves", "Steve Murray"),
    "their": (
        "bottom of the table",
        "in mid-table",
        "in the relegation zone",
        "two points off the play-off places",
    ),
    "next_opponent": ("Greendale", "Fairport", "Hillcrest", "Lakeside"),
    "next_day": ("Saturday", "Sunday", "Tuesday", "Wednesday"),
    "place": ("first", "second", "third", "fifth", "eighth"),
    "alert": (
        "winter storm warning",
        "flood watch",
        "wind advisory",
        "heat advisory",
        "severe thunderstorm watch",
    ),
    "county": ("Marion", "Jefferson", "Franklin", "Clay", "Washington", "Madison"),
    "precip": ("snow", "rain", "freezing rain", "sleet"),
    "town": ("Springfield", "Greenville", "Fairview", "Salem", "Clinton", "Georgetown"),
    "utility": ("county electric cooperative", "city power department", "regional utility"),
    "recovery": ("a slow warm-up", "milder air arrives", "another cold front moves in"),
    "weekday": tuple(_WEEKDAYS),
}


def filled_template_stories(rng: np.random.Generator, per_template: int = 30) -> list[str]:
    """Distinct ~130-word stories written from the same skeletons with different facts."""
    texts: list[str] = []
    for name in FILL_TEMPLATES:
        template = FILL_TEMPLATES[name]
        for _ in range(per_template):
            values: dict[str, str] = {}
            for slot, words in _FILL_WORDS.items():
                values[slot] = _pick(rng, words)
            numbers = {
                "rev": f"{rng.uniform(1, 40):.1f}",
                "pct": str(int(rng.integers(1, 30))),
                "est": f"{rng.uniform(1, 40):.1f}",
                "income": str(int(rng.integers(50, 900))),
                "eps": str(int(rng.integers(5, 250))),
                "mpct": f"{rng.uniform(0.5, 12):.1f}",
                "g1": f"{rng.uniform(1, 20):.1f}",
                "g2": f"{rng.uniform(20, 45):.1f}",
                "hour": str(int(rng.integers(1, 12))),
                "s1": str(int(rng.integers(2, 6))),
                "s2": str(int(rng.integers(0, 2))),
                "crowd": f"{int(rng.integers(3, 60))},{int(rng.integers(100, 999))}",
                "games": str(int(rng.integers(2, 20))),
                "m1": str(int(rng.integers(4, 45))),
                "left": str(int(rng.integers(2, 20))),
                "amount": f"{int(rng.integers(1, 8))} to {int(rng.integers(8, 16))}",
                "wind": str(int(rng.integers(30, 70))),
                "start": str(int(rng.integers(1, 6))),
                "end": str(int(rng.integers(6, 12))),
                "count": str(int(rng.integers(3, 60))),
                "low": str(int(rng.integers(-10, 40))),
            }
            values.update(numbers)
            values["visitor"] = values["away"]
            texts.append(template.format(**values))
    return texts


# -- the quality run --------------------------------------------------------------------------
@dataclass
class Trial:
    """One text saved into a quality database, and what the detector said."""

    kind: str  # original | positive | boilerplate | outlet_template | fill_template
    label: str  # the story it was made from (corpus label or "fill:<template>:<n>")
    outcome: str
    similarity: float | None
    matched: str | None  # label of the stored article it was merged into
    level: str | None = None  # positives only
    own_similarity: float | None = None  # positives: exact Jaccard with its own original
    candidate: bool | None = None  # positives: the original shares at least one LSH band
    in_top_candidates: bool | None = None  # ... and is among the candidates a save verifies
    shared_bands: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)


class QualityDb:
    """A fresh SQLite database that remembers which label each stored article has."""

    def __init__(self, path: Path) -> None:
        self.db = open_database(f"sqlite:///{path}")
        self.labels: dict[int, str] = {}
        self.sources: dict[str, int] = {}
        self.count = 0

    def save(
        self,
        label: str,
        outlet: str,
        title: str,
        text_: str,
        threshold: float | None = T_LOW,
        keys: TextKeys | None = None,
    ) -> SaveResult:
        """Save ``text_`` as a new record; remember its label if it is stored."""
        if outlet not in self.sources:
            self.sources[outlet] = ensure_source(self.db, outlet, []).source_id
        keys = keys or text_keys(text_)
        self.count += 1
        url = f"https://quality.invalid/{self.count}"
        record = ArticleRecord(
            source_id=self.sources[outlet],
            url=url,
            original_url=url,
            title=title,
            text=text_,
            html="",
            content_hash=keys.content_hash,
            fetched_at=FETCHED_AT,
            near=keys.near,
        )
        result = save_article(self.db, record, near_threshold=threshold)
        if result.outcome == "new":
            self.labels[result.article_id] = label
        return result

    def candidates(self, bands: Sequence[int]) -> list[tuple[int, int]]:
        """(article_id, shared bands), ordered as storage.repository ranks them (no limit)."""
        shared = func.count().label("shared")
        with self.db.reading() as session:
            rows = session.execute(
                select(NearKey.article_id, shared)
                .where(NearKey.key.in_(sorted(set(bands))))
                .group_by(NearKey.article_id)
                .order_by(shared.desc(), NearKey.article_id)
            ).all()
        return [(int(a), int(s)) for a, s in rows]

    def trial(self, kind: str, label: str, result: SaveResult, **extra: Any) -> Trial:
        matched = self.labels.get(result.article_id) if result.outcome != "new" else None
        return Trial(kind, label, result.outcome, result.similarity, matched, **extra)


def run_quality(stories: Sequence[Story], seed: int, workdir: Path) -> dict[str, Any]:
    """Save originals, copies and negatives; return every trial plus the metrics."""
    rng = np.random.default_rng([seed, 1])
    vocabulary = sorted(
        {w.lower() for s in stories for w in s.text.split() if w.isalpha() and len(w) >= 3}
    )
    started = time.perf_counter()
    trials: list[Trial] = []

    # (a) every original, at the low threshold: any near-merge among them is recorded.
    originals_db = QualityDb(workdir / "quality-originals.db")
    for story in stories:
        result = originals_db.save(story.label, story.outlet, story.title, story.text)
        trials.append(originals_db.trial("original", story.label, result))
    originals_db.db.dispose()

    # Positives: all originals stored (no near check, as at any threshold above the merges
    # just recorded, so a merge among originals does not hide an original from its copy),
    # then one republished copy of each, saved at the low threshold.
    main_db = QualityDb(workdir / "quality-copies.db")
    home: dict[str, int] = {}  # story label -> id of the article it is stored as
    for story in stories:
        result = main_db.save(story.label, story.outlet, story.title, story.text, None)
        home[story.label] = result.article_id
    levels = {
        stories[int(index)].label: LEVELS[rank % len(LEVELS)]
        for rank, index in enumerate(rng.permutation(len(stories)))
    }
    originals_keys = {s.label: text_keys(s.text) for s in stories}
    for story in stories:
        level = levels[story.label]
        copy, detail = republish(story, level, rng, vocabulary)
        copy_keys = text_keys(copy)
        assert copy_keys.near is not None
        original_near = originals_keys[story.label].near
        assert original_near is not None
        ranked = [a for a, _ in main_db.candidates(copy_keys.near.bands)]
        own = home[story.label]
        shared = len(set(copy_keys.near.bands) & set(original_near.bands))
        result = main_db.save(
            f"copy:{story.label}", "Republisher", story.title, copy, keys=copy_keys
        )
        trials.append(
            main_db.trial(
                "positive",
                story.label,
                result,
                level=level,
                own_similarity=round(jaccard(copy_keys.near.array, original_near.array), 4),
                candidate=own in ranked,
                in_top_candidates=own in ranked[:_NEAR_CANDIDATES],
                shared_bands=shared,
                detail=detail,
            )
        )
    main_db.db.dispose()

    # (b) distinct stories sharing a header line and a boilerplate block.
    bp_db = QualityDb(workdir / "quality-boilerplate.db")
    for story, text_, pair in boilerplate_variants(stories, rng, BOILERPLATE_PAIRS):
        result = bp_db.save(story.label, story.outlet, story.title, text_)
        trials.append(bp_db.trial("boilerplate", story.label, result, detail={"pair": pair}))
    bp_db.db.dispose()

    # (c) short stories sharing a template: an outlet's header/footer, or a fill-in skeleton.
    tpl_db = QualityDb(workdir / "quality-template.db")
    for story, text_, pair in outlet_template_variants(stories, rng):
        result = tpl_db.save(story.label, story.outlet, story.title, text_)
        trials.append(tpl_db.trial("outlet_template", story.label, result, detail={"pair": pair}))
    for number, text_ in enumerate(filled_template_stories(rng)):
        name = list(FILL_TEMPLATES)[number // 30]
        label = f"fill:{name}:{number}"
        result = tpl_db.save(label, "Template Wire", name, text_)
        trials.append(tpl_db.trial("fill_template", label, result))
    tpl_db.db.dispose()

    elapsed = time.perf_counter() - started
    closest = closest_original_pairs(stories, originals_keys)
    natural = same_story_pairs(trials, originals_keys)
    return {
        "stories": len(stories),
        "seconds": round(elapsed, 1),
        "counts": dict(Counter(t.kind for t in trials)),
        "negative_pairs": negative_pair_counts(trials, len(stories)),
        "metrics": quality_metrics(trials),
        "lsh": lsh_summary(trials),
        "merges_of_negatives": [asdict(t) for t in trials if _is_negative_merge(t)],
        "closest_original_pairs": closest,
        "same_story_pairs_in_corpus": natural,
        "positives": [asdict(t) for t in trials if t.kind == "positive"],
    }


def closest_original_pairs(
    stories: Sequence[Story], keys: dict[str, Any], top: int = 5
) -> list[dict[str, Any]]:
    """The most similar pairs of distinct originals by exact Jaccard (all pairs, no LSH)."""
    arrays = [keys[s.label].near.array for s in stories]
    best: list[tuple[float, int, int]] = []
    for i in range(len(arrays)):
        for j in range(i + 1, len(arrays)):
            similarity = jaccard(arrays[i], arrays[j])
            if similarity > 0.05:
                best.append((similarity, i, j))
    best.sort(reverse=True)
    return [
        {
            "similarity": round(sim, 4),
            "a": stories[i].label,
            "b": stories[j].label,
            "same_story": SAME_STORY.get(frozenset((stories[i].label, stories[j].label))),
        }
        for sim, i, j in best[:top]
    ]


def same_story_pairs(trials: Sequence[Trial], keys: dict[str, TextKeys]) -> list[dict[str, Any]]:
    """The corpus's own same-story pairs (SAME_STORY): exact Jaccard, and merged or not."""
    merged = {
        frozenset((t.label, t.matched)): t.similarity
        for t in trials
        if t.kind == "original" and t.matched is not None
    }
    pairs = []
    for pair, note in SAME_STORY.items():
        a, b = sorted(pair)
        near_a, near_b = keys[a].near if a in keys else None, keys[b].near if b in keys else None
        if near_a is None or near_b is None:
            continue
        pairs.append(
            {
                "a": a,
                "b": b,
                "note": note,
                "similarity": round(jaccard(near_a.array, near_b.array), 4),
                "merged_at_low_threshold": pair in merged,
            }
        )
    return sorted(pairs, key=lambda p: -p["similarity"])


def negative_pair_counts(trials: Sequence[Trial], stories: int) -> dict[str, int]:
    """How many pairs of distinct stories each negative database held."""
    bp = sum(1 for t in trials if t.kind == "boilerplate")
    tpl = sum(1 for t in trials if t.kind in ("outlet_template", "fill_template"))
    return {
        "originals_all_pairs": stories * (stories - 1) // 2,
        "boilerplate_all_pairs": bp * (bp - 1) // 2,
        "boilerplate_same_block_pairs": bp // 2,
        "template_all_pairs": tpl * (tpl - 1) // 2,
    }


def _same_story(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return False
    a, b = a.removeprefix("copy:"), b.removeprefix("copy:")
    return a == b or frozenset((a, b)) in SAME_STORY


def _is_negative_merge(trial: Trial) -> bool:
    return trial.kind != "positive" and trial.outcome != "new"


def _false_merge_at(trial: Trial, threshold: float) -> bool:
    """Would this save have merged two different stories at ``threshold``?"""
    if trial.outcome == "new" or _same_story(trial.label, trial.matched):
        return False
    if trial.outcome == "duplicate_near":
        return (trial.similarity or 0.0) >= threshold
    return True  # an exact-text or URL match between different stories


def _true_merge_at(trial: Trial, threshold: float) -> bool:
    if trial.kind != "positive" or not _same_story(trial.label, trial.matched):
        return False
    if trial.outcome == "duplicate_near":
        return (trial.similarity or 0.0) >= threshold
    return trial.outcome != "new"


def _prf(tp: int, fp: int, positives: int) -> dict[str, Any]:
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / positives if positives else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp,
        "fp": fp,
        "fn": positives - tp,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def quality_metrics(trials: Sequence[Trial]) -> list[dict[str, Any]]:
    """Precision, recall and F1 per threshold, overall and per edit level.

    A false positive is any save that merged two different stories: a negative merged into
    anything, or a copy merged into another story than its own. Per level, the test set is that
    level's copies plus every negative (precision then answers "if all republished copies were
    edited this much").
    """
    positives = [t for t in trials if t.kind == "positive"]
    negatives = [t for t in trials if t.kind != "positive"]
    rows = []
    for threshold in THRESHOLDS:
        fp_by_kind = Counter(t.kind for t in negatives if _false_merge_at(t, threshold))
        wrong = Counter(t.level for t in positives if _false_merge_at(t, threshold))
        fp_negatives = sum(fp_by_kind.values())
        row: dict[str, Any] = {"threshold": threshold}
        tp = sum(_true_merge_at(t, threshold) for t in positives)
        row["overall"] = _prf(tp, fp_negatives + sum(wrong.values()), len(positives))
        for level in LEVELS:
            mine = [t for t in positives if t.level == level]
            tp = sum(_true_merge_at(t, threshold) for t in mine)
            row[level] = _prf(tp, fp_negatives + wrong[level], len(mine))
        row["false_positives"] = {**dict(fp_by_kind), "copy_to_wrong_story": sum(wrong.values())}
        # Recall had every pair been compared exactly: what LSH costs at this threshold.
        row["recall_if_exhaustive"] = round(
            sum((t.own_similarity or 0) >= threshold for t in positives) / len(positives), 4
        )
        rows.append(row)
    return rows


def lsh_summary(trials: Sequence[Trial]) -> dict[str, Any]:
    """Positive pairs whose original never even became a candidate, overall and per level."""
    positives = [t for t in trials if t.kind == "positive"]
    summary: dict[str, Any] = {}
    for scope in ("overall", *LEVELS):
        mine = [t for t in positives if scope == "overall" or t.level == scope]
        sims = [t.own_similarity or 0.0 for t in mine]
        missed = [t for t in mine if not t.in_top_candidates]
        summary[scope] = {
            "pairs": len(mine),
            "candidate_recall": round(sum(bool(t.in_top_candidates) for t in mine) / len(mine), 4),
            "shares_a_band": sum(bool(t.candidate) for t in mine),
            "never_candidates": len(missed),
            "never_candidates_similarity": sorted(round(t.own_similarity or 0, 3) for t in missed),
            "exact_similarity": {
                "min": round(min(sims), 3),
                "p10": round(float(np.percentile(sims, 10)), 3),
                "median": round(statistics.median(sims), 3),
                "max": round(max(sims), 3),
            },
        }
    return summary


# -- the cost run -----------------------------------------------------------------------------
_ONSETS = (
    *("", "b", "br", "c", "ch", "d", "dr", "f", "g", "gr", "h", "j", "k", "l", "m"),
    *("n", "p", "pr", "qu", "r", "s", "sh", "st", "t", "th", "tr", "v", "w", "z"),
)
_VOWELS = ("a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y")
_CODAS = ("", "", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck", "m")


class SyntheticCorpus:
    """Distinct article texts from a Zipf-distributed vocabulary of generated words.

    Text ``i`` depends only on (seed, i), so any process can generate any slice of it.
    """

    def __init__(self, seed: int, vocabulary: int = 20_000, exponent: float = 1.0) -> None:
        rng = np.random.default_rng([seed, 2])
        words: dict[str, None] = {}
        while len(words) < vocabulary:
            syllables = int(rng.choice([1, 1, 2, 2, 2, 3, 3, 4]))
            word = "".join(
                _pick(rng, _ONSETS) + _pick(rng, _VOWELS) + _pick(rng, _CODAS)
                for _ in range(syllables)
            )
            words.setdefault(word, None)
        # Short words are the frequent ones, as in real text; Zipf-Mandelbrot rank weights.
        ranked = sorted(words, key=lambda w: (len(w), w))
        self.words = np.array(ranked, dtype=object)
        weights = 1.0 / (np.arange(1, vocabulary + 1) + 2.7) ** exponent
        self.cdf = np.cumsum(weights / weights.sum())
        self.seed = seed

    def article(self, index: int) -> tuple[str, str]:
        """(title, text) of article ``index``: 300-700 words in sentences and paragraphs."""
        rng = np.random.default_rng([self.seed, 3, index])
        count = int(rng.integers(300, 701))
        ids = np.minimum(np.searchsorted(self.cdf, rng.random(count + 8)), len(self.cdf) - 1)
        words: list[str] = self.words[ids].tolist()
        title = " ".join(words[count:]).capitalize()
        paragraphs: list[str] = []
        sentences: list[str] = []
        position = 0
        lengths = rng.integers(6, 26, size=count)
        breaks = rng.integers(3, 7, size=count)
        for length in lengths:
            if position >= count:
                break
            sentence = words[position : position + int(length)]
            position += int(length)
            if len(sentence) > 4:
                sentence[len(sentence) // 2] += ","
            sentences.append(" ".join(sentence).capitalize() + ".")
            if len(sentences) >= int(breaks[len(paragraphs)]):
                paragraphs.append(" ".join(sentences))
                sentences = []
        if sentences:
            paragraphs.append(" ".join(sentences))
        return title, "\n\n".join(paragraphs)


_WORKER_CORPUS: SyntheticCorpus | None = None


def _worker_init(seed: int) -> None:
    global _WORKER_CORPUS
    _WORKER_CORPUS = SyntheticCorpus(seed)


Generated = tuple[str, str, TextKeys]  # title, text, keys


def _worker_batch(start: int, stop: int) -> list[Generated]:
    """(title, text, keys) of synthetic articles start..stop-1."""
    assert _WORKER_CORPUS is not None
    result = []
    for index in range(start, stop):
        title, text_ = _WORKER_CORPUS.article(index)
        result.append((title, text_, text_keys(text_)))
    return result


def _record(source_id: int, index: int, title: str, text_: str, keys: TextKeys) -> ArticleRecord:
    """Synthetic article ``index`` as the crawler would hand it to storage."""
    url = f"https://cost.invalid/article/{index}"
    return ArticleRecord(
        source_id=source_id,
        url=url,
        original_url=url,
        title=title,
        text=text_,
        html="".join(f"<p>{p}</p>" for p in text_.split("\n\n")),
        content_hash=keys.content_hash,
        fetched_at=FETCHED_AT,
        near=keys.near,
    )


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _bulk_insert(db: Database, records: Sequence[ArticleRecord]) -> None:
    """Write the rows ``save_articles`` writes for new articles, as three executemany inserts.

    Used only to fill the database up to the measured size: at 3 (SQLite) to 6 (PostgreSQL) ms
    per article on this 2-core machine, a ``save_articles`` fill of 100k would take 5-10
    minutes on its own. The rows are the same (checked: articles,
    article_urls and article_near_keys agree row for row, ids aside, with a save_articles
    fill); no dedup check is needed, the synthetic texts are distinct. Every measured save
    goes through the real API.
    """
    with db.transaction() as session:
        articles = _table(Article)
        ids = session.scalars(
            insert(articles).returning(articles.c.id, sort_by_parameter_order=True),
            [_article_row(record) for record in records],
        ).all()
        session.execute(
            insert(_table(ArticleUrl)),
            [
                {
                    "article_id": article_id,
                    "url": record.url,
                    "kind": "canonical",
                    "source_id": record.source_id,
                    "seen_at": record.fetched_at,
                }
                for article_id, record in zip(ids, records, strict=True)
            ],
        )
        session.execute(
            insert(_table(NearKey)),
            [
                {"key": key, "article_id": article_id}
                for article_id, record in zip(ids, records, strict=True)
                if record.near is not None
                for key in sorted(set(record.near.bands))
            ],
        )


def _fill(
    db: Database, source_id: int, seed: int, start: int, stop: int, *, api: bool, progress: bool
) -> tuple[float, float]:
    """Store synthetic articles start..stop-1; (seconds, seconds spent writing).

    Two worker processes generate the texts and their keys while this one writes: in bulk,
    or (``api``) with ``save_articles(..., near_threshold=0.7)`` in batches of 500.
    """
    began = time.perf_counter()
    writing = 0.0
    ranges = [(s, min(s + COST_BATCH, stop)) for s in range(start, stop, COST_BATCH)]
    with ProcessPoolExecutor(max_workers=2, initializer=_worker_init, initargs=(seed,)) as pool:
        pending: list[Future[list[Generated]]] = []
        queue = iter(ranges)
        for first, last in queue:
            pending.append(pool.submit(_worker_batch, first, last))
            if len(pending) >= 4:
                break
        done = 0
        for first, _last in ranges:
            batch = pending.pop(0).result()
            nxt = next(queue, None)
            if nxt is not None:
                pending.append(pool.submit(_worker_batch, *nxt))
            records = [
                _record(source_id, first + offset, *generated)
                for offset, generated in enumerate(batch)
            ]
            t0 = time.perf_counter()
            if api:
                save_articles(db, records, near_threshold=COST_THRESHOLD)
            else:
                _bulk_insert(db, records)
            writing += time.perf_counter() - t0
            done += len(batch)
            if progress and done % 10_000 < COST_BATCH:
                print(f"  {first + len(batch):,} articles stored", file=sys.stderr, flush=True)
    return time.perf_counter() - began, writing


def _ms_stats(seconds: Sequence[float]) -> dict[str, float]:
    ms = np.array(seconds) * 1000
    return {
        "median": round(float(np.median(ms)), 3),
        "p95": round(float(np.percentile(ms, 95)), 3),
        "mean": round(float(ms.mean()), 3),
        "max": round(float(ms.max()), 3),
    }


def _candidate_plan(db: Database, bands: Sequence[int]) -> list[str]:
    shared = func.count().label("shared")
    query = (
        select(NearKey.article_id, shared)
        .where(NearKey.key.in_(sorted(set(bands))))
        .group_by(NearKey.article_id)
        .order_by(shared.desc(), NearKey.article_id)
        .limit(_NEAR_CANDIDATES)
    )
    compiled = str(query.compile(db.engine, compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if db.dialect == "sqlite" else "EXPLAIN "
    with db.engine.connect() as conn:
        rows = conn.exec_driver_sql(prefix + compiled).all()
    return [str(row[-1]) for row in rows]


def _count_candidates(db: Database, probes: Sequence[ArticleRecord]) -> list[int]:
    counts = []
    with db.reading() as session:
        for record in probes:
            assert record.near is not None
            found = session.execute(
                select(func.count(func.distinct(NearKey.article_id))).where(
                    NearKey.key.in_(sorted(set(record.near.bands)))
                )
            ).scalar_one()
            counts.append(int(found) - 1)  # the probe itself is stored by now
    return counts


def _probe(
    db: Database, corpus: SyntheticCorpus, source_id: int, start: int
) -> tuple[dict[str, Any], int]:
    """Time COST_PROBES single saves, then one batch save, starting at article ``start``."""
    texts = [corpus.article(i) for i in range(start, start + COST_PROBES)]
    keys_wall: list[float] = []
    cpu_before = time.process_time()
    keys = []
    for _, text_ in texts:
        t0 = time.perf_counter()
        keys.append(text_keys(text_))
        keys_wall.append(time.perf_counter() - t0)
    keys_cpu = (time.process_time() - cpu_before) / COST_PROBES
    records = [
        _record(source_id, start + i, title, text_, k)
        for i, ((title, text_), k) in enumerate(zip(texts, keys, strict=True))
    ]
    saves: list[float] = []
    outcomes: Counter[str] = Counter()
    cpu_before = time.process_time()
    for record in records:
        t0 = time.perf_counter()
        result = save_article(db, record, near_threshold=COST_THRESHOLD)
        saves.append(time.perf_counter() - t0)
        outcomes[result.outcome] += 1
    save_cpu = (time.process_time() - cpu_before) / COST_PROBES
    candidates = _count_candidates(db, records)
    start += COST_PROBES
    texts = [corpus.article(i) for i in range(start, start + COST_BATCH)]
    batch = [
        _record(source_id, start + i, title, text_, text_keys(text_))
        for i, (title, text_) in enumerate(texts)
    ]
    t0 = time.perf_counter()
    batch_results = save_articles(db, batch, near_threshold=COST_THRESHOLD)
    batch_seconds = time.perf_counter() - t0
    outcomes.update(f"batch_{r.outcome}" for r in batch_results)
    figures = {
        "save_article_ms": _ms_stats(saves),
        "save_article_cpu_ms_mean": round(save_cpu * 1000, 3),
        "text_keys_ms": _ms_stats(keys_wall),
        "text_keys_cpu_ms_mean": round(keys_cpu * 1000, 3),
        "save_articles_batch_ms_per_article": round(batch_seconds / COST_BATCH * 1000, 3),
        "candidates_per_article": {
            "mean": round(statistics.fmean(candidates), 3),
            "max": max(candidates),
        },
        "outcomes": dict(outcomes),
        "plan": _candidate_plan(db, keys[0].near.bands if keys[0].near else ()),
    }
    return figures, start + COST_BATCH


def _prepare_url(url: str | None, workdir: Path) -> tuple[str, Callable[[], None]]:
    """A URL to an empty database for the cost run, and how to clean it up afterwards."""
    if url is None:
        return f"sqlite:///{workdir / 'cost.db'}", lambda: None
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        admin = create_engine(parsed)

        def reset(create: bool) -> None:
            with admin.begin() as conn:
                conn.execute(text(f"DROP SCHEMA IF EXISTS {PG_SCHEMA} CASCADE"))
                if create:
                    conn.execute(text(f"CREATE SCHEMA {PG_SCHEMA}"))

        reset(create=True)
        scoped = parsed.update_query_dict({"options": f"-csearch_path={PG_SCHEMA}"})

        def cleanup() -> None:
            reset(create=False)
            admin.dispose()

        return scoped.render_as_string(hide_password=False), cleanup
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database or ""
        if database and database != ":memory:" and Path(database).exists():
            raise SystemExit(f"{database} exists: the cost run needs a new, empty database")
        return url, lambda: None
    raise SystemExit(f"unsupported database url {parsed.render_as_string()}")


def run_cost(
    url: str | None,
    sizes: Sequence[int],
    seed: int,
    workdir: Path,
    *,
    fill: str = "bulk",
    analyze: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Fill to each size and measure the per-article cost of a save there."""
    db_url, cleanup = _prepare_url(url, workdir)
    began = time.perf_counter()
    try:
        db = open_database(db_url)
        server = db.dialect
        if db.dialect == "postgresql":
            with db.engine.connect() as conn:
                server = str(conn.exec_driver_sql("SHOW server_version").scalar_one())
                server = f"PostgreSQL {server}"
        else:
            server = f"SQLite {sqlite3.sqlite_version}"
        source_id = ensure_source(db, "Synthetic Wire", []).source_id
        corpus = SyntheticCorpus(seed)
        stored = 0
        results = []
        for size in sorted(sizes):
            fill_seconds, write_seconds = 0.0, 0.0
            if size > stored:
                fill_seconds, write_seconds = _fill(
                    db, source_id, seed, stored, size, api=fill == "api", progress=progress
                )
                filled = size - stored
            else:
                filled = 0
            if analyze and db.dialect == "postgresql":
                # autovacuum would have; without statistics the planner takes the 16 band keys
                # for ~140k rows and runs the candidate query as a parallel scan (+~14 ms here).
                with db.engine.begin() as conn:
                    conn.exec_driver_sql("ANALYZE articles, article_urls, article_near_keys")
            if progress:
                print(f"  measuring at {size:,} stored", file=sys.stderr, flush=True)
            figures, stored = _probe(db, corpus, source_id, max(stored, size))
            results.append(
                {
                    "stored": size,
                    **figures,
                    "fill": {
                        "articles": filled,
                        "seconds": round(fill_seconds, 1),
                        "write_ms_per_article": round(write_seconds / filled * 1000, 3)
                        if filled
                        else None,
                    },
                }
            )
        db.dispose()
    finally:
        cleanup()
    return {
        "backend": server,
        "url": make_url(db_url).render_as_string(hide_password=True),
        "threshold": COST_THRESHOLD,
        "fill_method": fill,
        "analyzed_after_fill": analyze and server.startswith("PostgreSQL"),
        "seconds": round(time.perf_counter() - began, 1),
        "loadavg_after": _loadavg(),
        "sizes": results,
    }


# -- report -----------------------------------------------------------------------------------
def print_quality(quality: dict[str, Any]) -> None:
    print(
        f"\nQuality: {quality['stories']} original stories from the corpus, one copy each "
        f"({quality['seconds']} s)"
    )
    counts = quality["counts"]
    pairs = quality["negative_pairs"]
    print(
        f"  saves: {counts.get('original', 0)} originals, {counts.get('positive', 0)} copies, "
        f"{counts.get('boilerplate', 0)} boilerplate variants, "
        f"{counts.get('outlet_template', 0)} outlet-template and "
        f"{counts.get('fill_template', 0)} fill-template stories"
    )
    print(
        f"  negative pairs held: {pairs['originals_all_pairs']:,} among originals, "
        f"{pairs['boilerplate_all_pairs']:,} boilerplate ({pairs['boilerplate_same_block_pairs']}"
        f" with the same header+block by design), {pairs['template_all_pairs']:,} template"
    )
    header = f"{'T':>5} |" + "".join(f" {scope:^23} |" for scope in ("overall", *LEVELS))
    print("\n" + header)
    print(f"{'':>5} |" + f" {'P':>6} {'R':>6} {'F1':>6}    |" * 4)
    print("-" * len(header))
    for row in quality["metrics"]:
        cells = "".join(
            f" {row[s]['precision']:6.3f} {row[s]['recall']:6.3f} {row[s]['f1']:6.3f}    |"
            for s in ("overall", *LEVELS)
        )
        print(f"{row['threshold']:>5} |{cells}")
    print("\n  T     TP   FN   FP  (false positives by kind)          recall if exhaustive")
    for row in quality["metrics"]:
        o = row["overall"]
        fps = ", ".join(f"{k} {v}" for k, v in sorted(row["false_positives"].items()) if v)
        print(
            f"  {row['threshold']:<5} {o['tp']:>4} {o['fn']:>4} {o['fp']:>4}  "
            f"{fps or '-':<36} {row['recall_if_exhaustive']:.3f}"
        )
    print("\n  LSH candidates (own original among the 10 candidates the save checks):")
    for scope, item in quality["lsh"].items():
        sims = item["exact_similarity"]
        print(
            f"    {scope:<8} {item['pairs'] - item['never_candidates']}/{item['pairs']} "
            f"= {item['candidate_recall']:.3f}; exact Jaccard min {sims['min']}, "
            f"p10 {sims['p10']}, median {sims['median']}; never candidates at J = "
            f"{item['never_candidates_similarity'] or '-'}"
        )
    merges = quality["merges_of_negatives"]
    print(f"\n  negatives merged at T={T_LOW} (similarity; full labels in the JSON):")
    fills: dict[str, list[float]] = defaultdict(list)
    for merge in merges:
        if merge["kind"] == "fill_template":
            fills[merge["label"].split(":")[1]].append(merge["similarity"] or 1.0)
            continue
        same = _same_story(merge["label"], merge["matched"])
        print(
            f"    {merge['kind']:<15} {merge['similarity']:.3f}  {_short(merge['label'])} -> "
            f"{_short(merge['matched'])}{'  [same story: not a false positive]' if same else ''}"
        )
    for name, sims in fills.items():
        print(
            f"    fill_template   {len(sims)} of 30 '{name}' stories, similarity "
            f"{min(sims):.3f}-{max(sims):.3f}"
        )
    natural = quality["same_story_pairs_in_corpus"]
    merged = [p["similarity"] for p in natural if p["merged_at_low_threshold"]]
    missed = [p["similarity"] for p in natural if not p["merged_at_low_threshold"]]
    print(
        f"  same-story pairs already in the corpus (labelled by eye): {len(natural)}; "
        f"merged at J = {merged or '-'}, not merged at J = {missed or '-'}"
    )
    print("  closest originals by exact Jaccard (all pairs, no LSH):")
    for pair in quality["closest_original_pairs"]:
        note = "  [same story]" if pair["same_story"] else ""
        print(f"    {pair['similarity']:.3f}  {_short(pair['a'])} ~ {_short(pair['b'])}{note}")


def _short(label: str | None) -> str:
    return Path(label).name if label else "-"


def print_cost(cost: dict[str, Any]) -> None:
    analyzed = ", ANALYZE after each fill" if cost["analyzed_after_fill"] else ""
    print(
        f"\nCost on {cost['backend']} ({cost['url']}), near_threshold={cost['threshold']}, "
        f"{cost['fill_method']} fill{analyzed}, {cost['seconds']} s, "
        f"loadavg after {cost['loadavg_after']}"
    )
    print(
        f"  {'stored':>8} | {'save_article ms':^26} | {'text_keys ms':^26} | "
        f"{'batch':>6} | {'cands':>5} | fill"
    )
    print(
        f"  {'':>8} |" + f" {'median':>8} {'p95':>8} {'cpu':>8} |" * 2 + f" {'ms/art':>6} | "
        f"{'mean':>5} |"
    )
    for row in cost["sizes"]:
        s, k = row["save_article_ms"], row["text_keys_ms"]
        fill = row["fill"]
        print(
            f"  {row['stored']:>8,} | {s['median']:>8.2f} {s['p95']:>8.2f} "
            f"{row['save_article_cpu_ms_mean']:>8.2f} | "
            f"{k['median']:>8.2f} {k['p95']:>8.2f} {row['text_keys_cpu_ms_mean']:>8.2f} | "
            f"{row['save_articles_batch_ms_per_article']:>6.2f} | "
            f"{row['candidates_per_article']['mean']:>5.2f} | "
            f"{fill['articles']:,} in {fill['seconds']} s"
        )
    last = cost["sizes"][-1]
    steps = [
        re.sub(r"\s*\(cost=.*", "", line).strip(" ->")
        for line in last["plan"]
        if re.search(r"scan|search", line, re.IGNORECASE) and "Cond" not in line
    ]
    print(f"  candidate query plan at {last['stored']:,}: " + " / ".join(steps))


def _sizes(value: str) -> list[int]:
    try:
        sizes = sorted({int(part.replace("_", "")) for part in value.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of integers: {value!r}") from None
    if not sizes or sizes[0] < 0:
        raise argparse.ArgumentTypeError("sizes must be non-negative integers")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--db-url", help="database for the cost run (default: SQLite in a tmp dir)")
    parser.add_argument("--sizes", type=_sizes, default=[10_000, 100_000], help="e.g. 10000,100000")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--corpus", type=Path, default=CORPUS)
    parser.add_argument(
        "--fill",
        choices=("bulk", "api"),
        default="bulk",
        help="how the cost database is filled up to each size: the same rows written in bulk "
        "(default, fast) or through save_articles in batches of 500 (3-6 ms/article)",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="PostgreSQL: do not ANALYZE after filling (as on a server without autovacuum)",
    )
    parser.add_argument("--skip-quality", action="store_true", help="only the cost run")
    parser.add_argument("--skip-cost", action="store_true", help="only the quality run")
    parser.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    args = parser.parse_args(argv)

    report: dict[str, Any] = {
        "machine": machine_info(),
        "code": code_version(),
        "seed": args.seed,
        "command": " ".join(["python", *sys.argv]),
    }
    machine, code = report["machine"], report["code"]
    print(
        f"Machine: {machine['cpu']}, {machine['cores']} cores "
        f"({machine['cores_usable']} usable), {machine['python']}, SQLite {machine['sqlite']}, "
        f"loadavg {machine['loadavg_at_start']} (other processes share these cores)"
    )
    dirty = (
        f", uncommitted: {code['uncommitted_dedup_changes']}"
        if code["uncommitted_dedup_changes"]
        else ""
    )
    print(f"Code: commit {code['commit']}{dirty}")
    with tempfile.TemporaryDirectory(prefix="neardup-") as tmp:
        workdir = Path(tmp)
        if not args.skip_quality:
            stories = load_stories(args.corpus)
            report["quality"] = run_quality(stories, args.seed, workdir)
            print_quality(report["quality"])
        if not args.skip_cost:
            report["cost"] = run_cost(
                args.db_url,
                args.sizes,
                args.seed,
                workdir,
                fill=args.fill,
                analyze=not args.no_analyze,
                progress=not args.quiet,
            )
            print_cost(report["cost"])
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
