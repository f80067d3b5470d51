"""Texts made from the original stories: republished copies (the positives) and the negatives
that must not merge (distinct stories sharing boilerplate or a template).

Every function draws from the ``rng`` it is given, in a fixed order, so equal seeds give equal
texts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from bench.neardup.corpus import Story

LEVELS = ("light", "medium", "heavy")


# -- republished copies ----------------------------------------------------------------------
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


# -- negatives ---------------------------------------------------------------------------------
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


def filled_template_stories(
    rng: np.random.Generator, per_template: int = 30
) -> list[tuple[str, str]]:
    """(template name, text): distinct ~130-word stories written from the same skeletons with
    different facts."""
    texts: list[tuple[str, str]] = []
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
            texts.append((name, template.format(**values)))
    return texts
