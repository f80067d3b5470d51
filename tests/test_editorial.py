# ruff: noqa: RUF001 - Persian letters here are Persian, not look-alikes of Latin ones.
"""Editorial control per source, end to end: filters (``[filters]`` and a source's
``include``, ``exclude``, ``languages``), rewrites and dropped paragraphs, with the real
``newsrelay`` command against a real loopback site.

Nothing is mocked. A :class:`LocalSite` serves a feed and its article pages and records every
request, so a test can say which pages were never asked for; ``newsrelay crawl`` runs as a
subprocess into a fresh SQLite file (or PostgreSQL schema); what was stored is read back with
``newsrelay export --format jsonl``, and the run's row with ``storage.runs.get_run``.
"""

from __future__ import annotations

import json
import random
from html import escape
from pathlib import Path
from typing import Any

from crawler.fingerprints import content_hash
from storage.db import open_database
from storage.runs import get_run
from tests.localsite import LocalSite
from tests.support import export, json_logs, run_newsrelay, summary, write_config

RSS = "application/rss+xml; charset=utf-8"
_WORDS = (  # noqa: SIM905 - a sentence of words reads better than a list
    "council budget river minister rail tunnel school hospital drought farmers "
    "election court museum festival bridge vaccine airport strike coast storm energy grid "
    "wheat export bank currency port ferry library reform police market village"
).split()
FOLLOW_US = "Follow us on Telegram for the latest news: t.me/relaynews"
FRENCH = [  # a French story (that mentions the harbour by its English name)
    "Le port de la ville, que les marins appellent encore le harbour, est resté fermé toute la"
    " semaine à cause de la tempête, a indiqué lundi la capitainerie.",
    "Les navires attendent au large et les pêcheurs craignent de perdre une partie de la saison"
    " si les quais ne rouvrent pas avant la fin du mois.",
]


def paragraphs(seed: str, count: int = 4) -> list[str]:
    """``count`` paragraphs of their own (seeded): no two seeds share a sentence."""
    rng = random.Random(seed)
    return [
        " ".join(rng.choice(_WORDS) for _ in range(50)).capitalize() + "." for _ in range(count)
    ]


def page(title: str, body: list[str], lang: str | None = "en") -> str:
    """An article page: its headline, then one ``<p>`` per paragraph."""
    lang_attr = f" lang='{lang}'" if lang else ""
    ps = "".join(f"<p>{escape(p)}</p>" for p in body)
    return (
        f"<!DOCTYPE html><html{lang_attr}><head><meta charset='utf-8'><title>{escape(title)}"
        f"</title></head><body><nav>Home | World</nav><article><h1>{escape(title)}</h1>{ps}"
        "</article><footer>Contact us</footer></body></html>"
    )


def serve_feed(site: LocalSite, stories: dict[str, tuple[str, str]], channel: str = "t") -> str:
    """Serve each path -> (title in the feed, page HTML), and an RSS feed listing them (a new
    ``channel`` title makes a feed whose ETag changed)."""
    items = []
    for path, (title, html) in stories.items():
        site.add(path, html)
        items.append(f"<item><title>{escape(title)}</title><link>{site.url(path)}</link></item>")
    return site.add(
        "/feed.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>{channel}</title>{"".join(items)}'
        "</channel></rss>",
        content_type=RSS,
    )


def crawl(config: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """``newsrelay --log-format json crawl --all --json``: its summary rows and log records."""
    result = run_newsrelay("--log-format", "json", "crawl", "--all", "--json", config=config)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    return summary(result.stdout), json_logs(result.stderr)


def filtered_logs(records: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """url -> (source, rule) of every ``entry filtered`` record (INFO)."""
    found = [r for r in records if r["msg"] == "entry filtered"]
    assert all(r["level"] == "info" for r in found)
    return {r["url"]: (r["source"], r["rule"]) for r in found}


def config_with(tmp_path: Path, db_url: str, feed: str, source_keys: str, top: str = "") -> Path:
    """A config of one source ``wire`` reading ``feed``, with ``source_keys`` on it and the
    ``top`` tables (``[filters]``, ``[dedup]``) before it."""
    source = f'[[sources]]\nname = "wire"\nfeeds = ["{feed}"]\n{source_keys}\n'
    return write_config(tmp_path / "newsrelay.toml", db_url, f"{top}\n{source}")


# -- filters --------------------------------------------------------------------------------
TITLE_RULE = '[filters]\nexclude = [{field = "title", pattern = "(?i)^(live|video):"}]\n'


def test_title_and_url_filters_drop_entries_before_their_pages_are_fetched(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """A global title rule and a source's URL rule drop two entries from the feed alone: their
    pages are never requested; the run, its summary, its log record and its ``crawl_runs`` row
    count them as ``filtered``, each logged once with its rule. The next poll counts them as
    known and still fetches neither; the kept story is stored."""
    stories = {
        "/news/1.html": ("Council approves the budget", page("Budget", paragraphs("1"))),
        "/news/2.html": ("Video: the storm on the coast", page("Storm", paragraphs("2"))),
        "/live/3.html": ("Election night", page("Election", paragraphs("3"))),
    }
    feed = serve_feed(site, stories)
    config = config_with(
        tmp_path,
        db_url,
        feed,
        'exclude = [{field = "url", pattern = "^https?://[^/]+/live/"}]',
        top=TITLE_RULE,
    )

    rows, records = crawl(config)

    assert (rows["wire"]["new"], rows["wire"]["filtered"], rows["wire"]["known"]) == (1, 2, 0)
    assert site.hits("/news/2.html") == [] and site.hits("/live/3.html") == []
    assert len(site.hits("/news/1.html")) == 1
    assert filtered_logs(records) == {
        site.url("/news/2.html"): ("wire", "filters.exclude[0] title '(?i)^(live|video):'"),
        site.url("/live/3.html"): ("wire", "sources[wire].exclude[0] url '^https?://[^/]+/live/'"),
    }
    [finished] = [r for r in records if r["msg"] == "crawl finished"]
    assert finished["filtered"] == 2
    db = open_database(db_url)
    run = get_run(db, rows["wire"]["run_id"])
    db.dispose()
    assert run is not None and run.counters.filtered == 2
    assert [a["url"] for a in export(config)] == [site.url("/news/1.html")]

    serve_feed(site, stories, channel="t2")  # changed: read in full again, not a 304
    rows, records = crawl(config)

    assert (rows["wire"]["new"], rows["wire"]["filtered"], rows["wire"]["known"]) == (0, 0, 3)
    assert filtered_logs(records) == {}
    assert site.hits("/news/2.html") == [] and site.hits("/live/3.html") == []

    # The editor drops the source's URL rule: what the old rules filtered is judged again.
    config_with(tmp_path, db_url, feed, "", top=TITLE_RULE)
    serve_feed(site, stories, channel="t3")
    rows, _ = crawl(config)
    assert (rows["wire"]["new"], rows["wire"]["filtered"], rows["wire"]["known"]) == (1, 1, 1)
    assert site.hits("/news/2.html") == [] and len(site.hits("/live/3.html")) == 1


def test_text_and_language_filters_judge_the_extracted_article(
    site: LocalSite, tmp_path: Path
) -> None:
    """Text rules and ``languages`` are judged after extraction, on the article's final text
    and its final language (its primary subtag, any case; detected from the text where the
    page declares none, as for /d.html: tests/test_language.py): a page without the
    included word, one with the excluded word and one in French are fetched once, counted as
    ``filtered`` with their rule, and never fetched again; a page that declares no language
    is kept, as is the one that passes every rule."""
    harbour = [*paragraphs("a"), "The harbour reopened on Monday."]
    stories = {
        "/a.html": ("A", page("A", harbour, lang="EN-gb")),
        "/b.html": ("B", page("B", paragraphs("b"))),
        "/c.html": ("C", page("C", FRENCH, lang="fr")),
        "/d.html": ("D", page("D", [*paragraphs("d"), "The harbour is closed."], lang=None)),
        "/e.html": ("E", page("E", [*harbour[1:], "Sponsored: the harbour sale."])),
    }
    feed = serve_feed(site, stories)
    config = config_with(
        tmp_path,
        f"sqlite:///{tmp_path / 'newsrelay.db'}",
        feed,
        'include = [{field = "text", pattern = "(?i)harbour"}]\nlanguages = ["en", "fa"]',
        top='[filters]\nexclude = [{field = "text", pattern = "(?m)^Sponsored:"}]\n',
    )

    rows, records = crawl(config)

    assert (rows["wire"]["new"], rows["wire"]["filtered"]) == (2, 3)
    assert filtered_logs(records) == {
        site.url("/b.html"): ("wire", "sources[wire].include: no rule matched"),
        site.url("/c.html"): ("wire", "sources[wire].languages: 'fr' is not en, fa"),
        site.url("/e.html"): ("wire", "filters.exclude[0] text '(?m)^Sponsored:'"),
    }
    assert sorted(a["url"] for a in export(config)) == [site.url("/a.html"), site.url("/d.html")]

    serve_feed(site, stories, channel="t2")  # changed: read in full again, not a 304
    rows, _ = crawl(config)

    assert (rows["wire"]["new"], rows["wire"]["filtered"], rows["wire"]["known"]) == (0, 0, 5)
    assert {path: len(site.hits(path)) for path in stories} == dict.fromkeys(stories, 1)


# -- rewrites and dropped paragraphs --------------------------------------------------------
PERSIAN = (
    "به گفته مدیرعامل شرکت بهره\u200cبرداری مترو، این خط روزانه بیش از سیصد هزار مسافر را"
    " جابه\u200cجا خواهد کرد."
)
REWRITES = """drop_paragraphs = ["(?i)follow us on telegram", "^Advertisement$"]
[[sources.rewrite]]
field = "title"
pattern = '\\s*\\|\\s*Wire News$'
replace = ""
[[sources.rewrite]]
field = "text"
pattern = '\\bPress TV\\b'
replace = "PressTV"
[[sources.rewrite]]
field = "text"
pattern = '^Read more:.*$'
replace = ""
"""


def test_rewrites_and_dropped_paragraphs_edit_the_text_and_the_html_alike(
    site: LocalSite, tmp_path: Path
) -> None:
    """Dropped paragraphs go from the text (their line) and the HTML (their ``<p>``, link and
    all); rewrites apply in order to the title, to each line of the text and to each run of
    text of the HTML, never to its markup (a link to presstv.ir keeps its address); a line a
    rewrite empties goes too. The content hash is the edited text's, and the Persian
    half-spaces (U+200C) stay, in the text and in the HTML."""
    body = paragraphs("metro", 2)
    html = page("Metro line opens | Wire News", []).replace(
        "</h1>",
        "</h1>"
        f"<p>{body[0]} Press TV reported it first.</p>"
        "<p>Follow us on <a href='https://t.me/wire'>Telegram</a> for more.</p>"
        f"<p>{PERSIAN}</p><p>Advertisement</p>"
        f"<p>{body[1]} See <a href='https://www.presstv.ir/'>Press TV</a> online.</p>"
        "<p>Read more: the metro map</p>",
    )
    feed = serve_feed(site, {"/metro.html": ("Metro line opens", html)})
    config = config_with(tmp_path, f"sqlite:///{tmp_path / 'nr.db'}", feed, REWRITES)

    rows, _ = crawl(config)

    assert (rows["wire"]["new"], rows["wire"]["filtered"]) == (1, 0)
    [article] = export(config)
    assert article["title"] == "Metro line opens"
    assert article["text"].split("\n") == [
        f"{body[0]} PressTV reported it first.",
        PERSIAN,
        f"{body[1]} See PressTV online.",
    ]
    assert article["content_hash"] == content_hash(article["text"])
    stored = article["html"]
    for gone in ("Follow us", "t.me/wire", "Telegram", "Advertisement", "Read more", "Press TV"):
        assert gone not in stored, gone
    assert stored.count("PressTV") == 2 and 'href="https://www.presstv.ir/"' in stored
    assert f"<p>{PERSIAN}</p>" in stored
    assert stored.count("\u200c") == article["text"].count("\u200c") == 2


def test_a_dropped_follow_us_line_makes_two_copies_one_story(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    """Two copies of a story, one with a "follow us on Telegram" line at its end: with the
    line dropped they have the same text, so the second is a ``content`` duplicate of the
    first (not a near-duplicate, and not a new story), one article with both addresses."""
    story = paragraphs("copy")
    feed = serve_feed(
        site,
        {
            "/wire/copy.html": ("Copy", page("Copy", story)),
            "/relay/copy.html": ("Copy", page("Copy", [*story, FOLLOW_US])),
        },
    )
    drop = 'drop_paragraphs = ["(?i)follow us on telegram"]'
    config = config_with(tmp_path, db_url, feed, drop)

    rows, _ = crawl(config)

    assert (rows["wire"]["new"], rows["wire"]["duplicates_content"]) == (1, 1), rows
    [article] = export(config)
    assert article["text"] == "\n".join(story)
    assert sorted(article["urls"]) == [site.url("/relay/copy.html"), site.url("/wire/copy.html")]
    assert [d["kind"] for d in article["duplicates"]] == ["content"]


# -- newsrelay extract ----------------------------------------------------------------------
def test_extract_shows_the_rule_that_would_drop_a_page(site: LocalSite, tmp_path: Path) -> None:
    """``newsrelay extract URL --source NAME`` applies the source's rewrites and says which
    filter would drop the page (``filtered: <rule>``, and ``filtered`` in ``--json``), or
    ``-`` / null when it is kept; without ``--source`` only ``[filters]`` judge it."""
    sale = site.add("/sale.html", page("Sale | Wire News", [*paragraphs("s"), "Sponsored: x"]))
    kept = site.add("/kept.html", page("Kept | Wire News", paragraphs("k")))
    config = config_with(
        tmp_path,
        f"sqlite:///{tmp_path / 'nr.db'}",
        site.url("/feed.xml"),
        'exclude = [{field = "text", pattern = "(?m)^Sponsored:"}]\n' + REWRITES,
        top='[filters]\ninclude = [{field = "title", pattern = "^(Sale|Kept)"}]\n',
    )
    rule = "sources[wire].exclude[0] text '(?m)^Sponsored:'"

    dropped = run_newsrelay("extract", sale, "--source", "wire", config=config)
    assert dropped.returncode == 0, dropped.stderr
    lines = dropped.stdout.splitlines()
    assert f"filtered: {rule}" in lines and "title: Sale" in lines
    as_json = run_newsrelay("extract", sale, "--source", "wire", "--json", config=config)
    assert json.loads(as_json.stdout)["filtered"] == rule

    passed = run_newsrelay("extract", kept, "--source", "wire", config=config)
    assert "filtered: -" in passed.stdout.splitlines()
    as_json = run_newsrelay("extract", kept, "--source", "wire", "--json", config=config)
    assert json.loads(as_json.stdout)["filtered"] is None

    # No source: its rewrites do not apply, so the global include no longer matches the title.
    alone = run_newsrelay("extract", kept, "--json", config=config)
    assert json.loads(alone.stdout)["filtered"] is None
    assert json.loads(alone.stdout)["title"] == "Kept | Wire News"


LINES = [f"Line {n} of a story whose whole body is one paragraph cut by breaks." for n in range(6)]
TELEGRAM = "Follow us on Telegram for the latest news"


def test_a_line_cut_by_br_goes_alone_and_the_html_never_loses_the_text() -> None:
    """Outlets that write a whole story as one <p> with <br> breaks: dropping the "follow us"
    line, or a template's line, drops that line from the HTML as from the text, never the
    whole paragraph; a rewrite across inline markup edits the HTML as it edits the text."""
    from crawler.fingerprints import paragraph_key
    from crawler.rewriting import drop_template, edit_html, edit_text, with_text

    html = "<p>" + "<br><br>".join([*LINES, TELEGRAM]) + "</p>"
    text = "\n".join([*LINES, TELEGRAM])
    drops = ["(?i)follow us on telegram"]
    edited = edit_html(html, drops, [])
    assert TELEGRAM not in edited and all(line in edited for line in LINES)
    assert edit_text(text, drops, []) == "\n".join(LINES)

    kept, kept_html, _, dropped = drop_template(text, html, {paragraph_key(TELEGRAM)})
    assert (kept, dropped) == ("\n".join(LINES), 1)
    assert TELEGRAM not in kept_html and all(line in kept_html for line in LINES)

    across = "<p>Story text.</p><p>Read more at <a href='https://presstv.ir/'>PressTV</a></p>"
    assert edit_html(across, [], [("Read more at PressTV", "")]) == "<p>Story text.</p>"
    source = "<p><b>Source:</b> IRNA</p><p>Body.</p>"
    assert edit_html(source, [], [(r"^Source: .*$", "")]) == "<p>Body.</p>"
    linked = "<p>Keep <a href='https://x.example/'>this link</a>, colour</p>"
    assert 'href="https://x.example/"' in edit_html(linked, [], [("colour", "color")])
    # An HTML left without a word of a text that has some is rebuilt from the text.
    assert with_text("<div><img src='x'></div>", "a\nb<c") == "<p>a</p><p>b&lt;c</p>"


def test_a_page_the_rules_leave_without_text_is_judged_not_failed() -> None:
    """A page whose only text is a "follow us" line that the source drops is recorded as
    filtered (once), not failed as "no article text" and fetched again at every poll."""
    from crawler.editorial import Editing
    from crawler.processing import EMPTIED, process_page

    body = f"<html><body><article><p>{TELEGRAM}.</p></article></body></html>".encode()
    editing = Editing(drop_paragraphs=("(?i)follow us on telegram",))
    page = process_page(body, "text/html; charset=utf-8", "https://a.example/v/1", None,
                        True, None, editing)  # fmt: skip
    assert (page.keys, page.filtered) == (None, EMPTIED)
    plain = process_page(body, "text/html; charset=utf-8", "https://a.example/v/1")
    assert plain.keys is not None and plain.filtered is None
