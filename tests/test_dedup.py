"""End-to-end dedup: real ``newsrelay crawl`` runs against loopback sites, checked through
``newsrelay export --format jsonl`` and the database's ``crawl_runs`` counters.

The pages under ``tests/fixtures/dedup/`` (see ``make_pages.py`` there) are served by one or
two :class:`LocalSite` servers; ``http://site-a.newsrelay.test`` and
``http://site-b.newsrelay.test`` in them become the servers' addresses. Nothing is mocked:
the dedup decisions are the ones ``storage.repository.save_article`` makes during a crawl.

* The Harbourside Gazette (site A) and Coastline Relay (site B), which republishes each of its
  stories with a "first published by" line, a ``Source:`` line and a date line added, some
  with the last paragraph trimmed and some with small wording edits: near-duplicates.
* A PressTV-style site whose story keeps its numeric id while its URL slug changes.
* A feed entry keeping its GUID while its link changes, and that GUID in another source.
* The Valley Ledger: seven distinct short stories sharing a template sentence and a 60-word
  blurb inside the article body, two of them written from one house template: never merged.
* One Ledger story copied word for word by another source: a content duplicate.

Every test also checks that the summary ``crawl --json`` prints and (where the crawl logged
JSON) the "crawl finished" record agree with ``crawl_runs``. A ``newsrelay`` process costs a
few seconds of imports, so the PressTV and GUID cases share two crawls, and the Ledger cases
one.
"""

from __future__ import annotations

import html
import itertools
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from crawler.fingerprints import jaccard, shingle_set, shingles, text_keys
from crawler.processing import process_page
from tests.localsite import LocalSite
from tests.support import (
    FIXTURES,
    Result,
    by_url,
    export,
    run_newsrelay,
    summary,
    write_config,
)

DEDUP = FIXTURES / "dedup"
ORIGIN_A = b"http://site-a.newsrelay.test"
ORIGIN_B = b"http://site-b.newsrelay.test"
HTML = "text/html; charset=utf-8"
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml"
NEAR_THRESHOLD = 0.7  # the [dedup] near_threshold default, which these configs keep

# Gazette story (site A) -> Coastline Relay's republished copy of it (site B).
REPUBLISHED = {
    "/news/2026/11/17/island-ferry-winter-sailings.html": (
        "/relay/2026/11/21/island-ferry-three-sailings/"  # last paragraph trimmed, 2 edits
    ),
    "/news/2026/11/18/flood-barrier-record-tide.html": (
        "/relay/2026/11/21/flood-barrier-holds/"  # complete, 3 wording edits
    ),
    "/news/2026/11/18/library-midnight-exam-season.html": (
        "/relay/2026/11/21/library-midnight-opening/"  # last paragraph trimmed, 1 edit
    ),
    "/news/2026/11/19/bluefin-tuna-landed.html": (
        "/relay/2026/11/21/bluefin-tuna-returns/"  # last paragraph trimmed, 1 edit
    ),
    "/news/2026/11/20/brickworks-homes-approved.html": (
        "/relay/2026/11/21/brickworks-homes/"  # complete, 3 wording edits
    ),
}
GAZETTE_FEED = "/feeds/gazette.xml"
RELAY_FEED = "/relay/rss.xml"

PRESSTV_FEED = "/presstv/rss"
PRESSTV_PATTERN = r"/Detail/\d{4}/\d{2}/\d{2}/(\d+)/"
PASS_OLD = "/Detail/2026/11/20/123456/Storm-closes-mountain-pass-to-lorries"
PASS_NEW = "/Detail/2026/11/20/123456/Mountain-pass-reopens-as-storm-eases"
GRAIN = "/Detail/2026/11/20/123457/Grain-terminal-handles-record-exports"

DESK_FEED = "/desk/feed.xml"
WIRES_FEED = "/wires/feed.xml"
SHARED_GUID = "countydesk-2026-11-0042"
TARIFF = "/desk/2026/11/water-tariff-rise.html"
TARIFF_MOVED = "/desk/2026/11/water-bills-rise-nine-per-cent.html"
BRIDGE = "/wires/2026/11/river-bridge-repairs.html"

LEDGER_FEED = "/ledger/feed.atom"
LEDGER = (
    "/ledger/2026/11/bus-route-41-withdrawn.html",
    "/ledger/2026/11/village-hall-roof.html",
    "/ledger/2026/11/netherby-school-inspection.html",
    "/ledger/2026/11/aldbury-bridge-road-closure.html",
    "/ledger/2026/11/kirkby-beck-bridge-repairs.html",  # the bridge closure's house template
    "/ledger/2026/11/farmers-market-moves.html",
    "/ledger/2026/11/obituary-walter-dyson.html",
)
LEDGER_OPENING = (
    "This report is part of the Valley Ledger\u2019s daily coverage of the towns and villages "
    "of the upper valley."
)
LEDGER_BLURB = (
    "The Valley Ledger is an independent newsroom funded by its readers. If you value local "
    "reporting, please consider supporting us with a monthly contribution from as little as "
    "three pounds. Sign up to our free morning newsletter to receive every story from the "
    "valley in your inbox before eight o\u2019clock. \u00a9 2026 Valley Ledger Community Media. "
    "Republication only with permission."
)
MIRROR_FEED = "/digest/rss.xml"
MIRRORED = LEDGER[2]  # the school inspection story, copied word for word
MIRROR = "/digest/2026/11/21/netherby-primary-good.html"

DUPLICATE_KINDS = ("url", "guid", "url_id", "content", "near")


# -- serving --------------------------------------------------------------------------------
class Web:
    """Site A and site B; fixtures are served with their placeholder origins rewritten."""

    def __init__(self, a: LocalSite, b: LocalSite | None = None) -> None:
        self.a, self.b = a, b or a
        self.bodies: dict[str, bytes] = {}  # absolute URL -> body served there

    def body(self, fixture: str) -> bytes:
        raw = (DEDUP / fixture).read_bytes()
        return raw.replace(ORIGIN_A, self.a.base.encode()).replace(ORIGIN_B, self.b.base.encode())

    def serve(self, site: LocalSite, path: str, fixture: str, content_type: str = HTML) -> str:
        body = self.body(fixture)
        url = site.add(path, body, content_type=content_type)
        self.bodies[url] = body
        return url

    def serve_page(self, site: LocalSite, folder: str, path: str) -> str:
        """A page generated by make_pages.py: ``folder/<last path segment>.html``."""
        name = PurePosixPath(path.rstrip("/")).name.removesuffix(".html")
        return self.serve(site, path, f"{folder}/{name}.html")


@pytest.fixture
def site_b() -> Iterator[LocalSite]:
    with LocalSite() as local:
        yield local


@pytest.fixture
def web(site: LocalSite, site_b: LocalSite) -> Web:
    return Web(site, site_b)


@dataclass
class Crawled:
    """What a module-scoped scenario left behind, for several tests to check."""

    web: Web
    crawls: list[Result]
    articles: list[dict[str, Any]]
    runs: list[dict[str, Any]]

    def run(self, source: str, nth: int = 0) -> dict[str, Any]:
        """The ``nth`` crawl_runs row of ``source``."""
        return [r for r in self.runs if r["source"] == source][nth]


def source_toml(name: str, feed_url: str, url_id_pattern: str | None = None) -> str:
    """A source whose template is not learnt: these tests judge the dedup keys on the text
    as extracted, shared openings and blurbs included (a learnt template would drop those
    blocks first: that is tests/test_templates.py's subject)."""
    pattern = f"url_id_pattern = '{url_id_pattern}'\n" if url_id_pattern else ""
    return (
        f'[[sources]]\nname = "{name}"\nfeeds = ["{feed_url}"]\nlearn_template = false\n{pattern}\n'
    )


# -- reading results ------------------------------------------------------------------------
def crawl(config: Path, *names: str, json_logs: bool = False) -> Result:
    """``newsrelay crawl --json NAMES``; it must succeed."""
    options = ("--log-format", "json") if json_logs else ()
    result = run_newsrelay(*options, "crawl", "--json", *names, config=config)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def crawl_runs(db_url: str) -> list[dict[str, Any]]:
    """Every ``crawl_runs`` row with its source's name, oldest first."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                text(
                    "SELECT s.name AS source, r.* FROM crawl_runs r "
                    "JOIN sources s ON s.id = r.source_id ORDER BY r.id"
                )
            ).mappings()
            return [dict(row) for row in rows]
    finally:
        engine.dispose()


def duplicates(run: dict[str, Any]) -> dict[str, int]:
    """A run's per-kind duplicate counters."""
    return {kind: run[f"duplicates_{kind}"] for kind in DUPLICATE_KINDS}


def check_summary_matches_runs(stdout: str, runs: list[dict[str, Any]]) -> None:
    """Each summary row's "new" and "duplicates" are its crawl_runs row's counters, the
    duplicates being the sum of the per-kind counters."""
    rows = summary(stdout)
    assert set(rows) >= {run["source"] for run in runs}, stdout
    for run in runs:
        row = rows[run["source"]]
        assert run["status"] == row["status"] == "ok", (run, row)
        assert row["new"] == run["new"], (run, row)
        assert row["duplicates"] == sum(duplicates(run).values()), (run, row)
        assert row["known"] == run["known_skipped"], (run, row)


def story_paragraphs(page: bytes) -> list[str]:
    """The paragraphs of a fixture page's article body, as text."""
    body = re.search(rb'<div class="story-body">(.*?)</div>', page, re.S)
    assert body is not None
    return [html.unescape(p.decode()) for p in re.findall(rb"<p>(.*?)</p>", body.group(1), re.S)]


def page_text(web: Web, url: str) -> str:
    """The text newsrelay extracts from the page served at ``url`` (the crawl's own code)."""
    return process_page(web.bodies[url], HTML, url).text


def finished_records(stderr: str) -> dict[str, dict[str, Any]]:
    """The JSON "crawl finished" log records of a ``--log-format json`` crawl, by source."""
    records = [json.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return {r["source"]: r for r in records if r.get("msg") == "crawl finished"}


# -- 1. republished with small edits --------------------------------------------------------
def test_republished_copies_are_near_duplicates_of_the_first(
    web: Web, db_url: str, tmp_path: Path
) -> None:
    """Coastline Relay (source b) republishes each of the Gazette's five stories (source a,
    crawled first) at its own address, with a "first published by" line, a ``Source:`` line
    and a date line added, some trimmed of their last paragraph and some lightly reworded.
    Each story is stored once, as the Gazette's complete text; each Relay address is an
    alias of it with kind "near" and a similarity above the threshold that is the Jaccard
    similarity of the two extracted texts. b's crawl_runs row counts five near-duplicates;
    its summary row (duplicates = the sum of the per-kind counters) and its JSON "crawl
    finished" log record say the same.
    """
    a, b = web.a, web.b
    feed_a = web.serve(a, GAZETTE_FEED, "feeds/gazette.rss.xml", RSS)
    feed_b = web.serve(b, RELAY_FEED, "feeds/relay.rss.xml", RSS)
    pairs = {
        web.serve_page(a, "gazette", original): web.serve_page(b, "relay", copy)
        for original, copy in REPUBLISHED.items()
    }
    config = write_config(
        tmp_path / "newsrelay.toml", db_url, source_toml("a", feed_a) + source_toml("b", feed_b)
    )

    first = crawl(config, "a")
    second = crawl(config, "b", json_logs=True)

    articles = export(config)
    assert sorted(x["url"] for x in articles) == sorted(pairs), [x["url"] for x in articles]
    stored = by_url(articles)
    similarities: dict[str, float] = {}
    for original, copy in pairs.items():
        article = stored[original]
        assert article["source"] == "a"
        assert article["urls"] == [original, copy]
        # The first copy's text is kept whole: no preamble, nothing trimmed.
        assert article["text"] == "\n".join(story_paragraphs(web.bodies[original]))
        [duplicate] = article["duplicates"]
        assert (duplicate["url"], duplicate["kind"]) == (copy, "near"), duplicate
        similarity = duplicate["similarity"]
        assert NEAR_THRESHOLD < similarity <= 1, duplicate
        copy_text = page_text(web, copy)
        assert copy_text.startswith("This article was first published by The Harbourside")
        assert f"\nSource: {original}\n" in copy_text
        expected = jaccard(shingles(article["text"]), shingles(copy_text))
        assert similarity == pytest.approx(expected, abs=1e-4), copy
        similarities[copy] = similarity
    # Every Relay page was read once: the copies were compared by text, not skipped.
    assert {url: len(b.hits(url.removeprefix(b.base))) for url in pairs.values()} == dict.fromkeys(
        pairs.values(), 1
    )

    runs = crawl_runs(db_url)
    assert [(r["source"], r["new"], r["pages_fetched"]) for r in runs] == [
        ("a", 5, 5),
        ("b", 0, 5),
    ]
    assert duplicates(runs[0]) == dict.fromkeys(DUPLICATE_KINDS, 0)
    assert duplicates(runs[1]) == {**dict.fromkeys(DUPLICATE_KINDS, 0), "near": 5}, similarities

    # -- 6. the run summary and the log say what crawl_runs says -----------------------------
    check_summary_matches_runs(first.stdout, runs[:1])
    check_summary_matches_runs(second.stdout, runs[1:])
    record = finished_records(second.stderr)["b"]
    assert record["run_id"] == runs[1]["id"]
    assert {kind: record[f"duplicates_{kind}"] for kind in DUPLICATE_KINDS} == duplicates(runs[1])
    assert record["duplicates"] == sum(duplicates(runs[1]).values()) == 5
    assert record["new"] == 0


# -- 2. and 3. identities that hold within a source ----------------------------------------
@pytest.fixture(scope="module")
def identities(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    """Two crawls, as a scheduler would run them, of three sources on one site:

    * presstv (``url_id_pattern``) lists a story under one slug, then under another slug with
      the same id (the page edited: new headline, rewritten lead, a new last paragraph; too
      different to be a near-duplicate), next to a story with another id;
    * desk lists a story, then the same ``<guid>`` with another ``<link>`` (the page has an
      added paragraph);
    * wires, in the second crawl only, gives that same GUID to a different story.
    """
    tmp_path = tmp_path_factory.mktemp("identities")
    with LocalSite() as site:
        web = Web(site)
        feeds = {
            PRESSTV_FEED: web.serve(site, PRESSTV_FEED, "feeds/presstv-1.rss.xml", RSS),
            DESK_FEED: web.serve(site, DESK_FEED, "feeds/desk-1.rss.xml", RSS),
            WIRES_FEED: web.serve(site, WIRES_FEED, "feeds/wires.rss.xml", RSS),
        }
        web.serve(site, PASS_OLD, "presstv/123456-old-slug.html")
        web.serve(site, PASS_NEW, "presstv/123456-new-slug.html")
        web.serve(site, GRAIN, "presstv/123457.html")
        web.serve_page(site, "desk", TARIFF)
        web.serve_page(site, "desk", TARIFF_MOVED)
        web.serve_page(site, "wires", BRIDGE)
        db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
        config = write_config(
            tmp_path / "newsrelay.toml",
            db_url,
            source_toml("presstv", feeds[PRESSTV_FEED], PRESSTV_PATTERN)
            + source_toml("desk", feeds[DESK_FEED])
            + source_toml("wires", feeds[WIRES_FEED]),
        )

        first = crawl(config, "presstv", "desk")
        web.serve(site, PRESSTV_FEED, "feeds/presstv-2.rss.xml", RSS)
        web.serve(site, DESK_FEED, "feeds/desk-2.rss.xml", RSS)
        second = crawl(config, "presstv", "desk", "wires")

        yield Crawled(web, [first, second], export(config), crawl_runs(db_url))


def test_slug_change_keeps_the_url_id(identities: Crawled) -> None:
    """Under PressTV's ``url_id_pattern`` (the number in ``/Detail/<date>/<id>/<slug>``) a
    story whose slug changed (same id, edited page) stays one article, its first version:
    the new address is not fetched (its id is known) but recorded as an alias of kind
    "url_id". A story with another id on the same path shape is a new article.
    """
    site = identities.web.a
    old, new, grain = site.url(PASS_OLD), site.url(PASS_NEW), site.url(GRAIN)
    mine = [x for x in identities.articles if x["source"] == "presstv"]
    assert sorted(x["url"] for x in mine) == sorted([old, grain])
    stored = by_url(mine)
    story = stored[old]
    assert story["title"] == "Storm closes mountain pass to lorries"
    assert "Police said the queues" not in story["text"]
    assert stored[grain]["title"] == "Grain terminal handles record exports"
    assert stored[grain]["duplicates"] == []
    first, second = identities.run("presstv", 0), identities.run("presstv", 1)
    assert (first["new"], second["new"]) == (1, 1)
    # The id is known: the new address is not fetched, but it is recorded as an alias.
    assert site.hits(PASS_NEW) == []
    assert story["urls"] == [old, new]
    assert story["duplicates"] == [{"url": new, "kind": "url_id", "similarity": None}]
    assert second["known_skipped"] == 1
    assert duplicates(second) == dict.fromkeys(DUPLICATE_KINDS, 0)
    check_summary_matches_runs(identities.crawls[0].stdout, [first])
    check_summary_matches_runs(identities.crawls[1].stdout, [second])


def test_guid_identifies_within_its_source_only(identities: Crawled) -> None:
    """A feed entry that keeps its ``<guid>`` while its ``<link>`` (and the page's wording)
    change stays one article: the new link is not fetched but recorded as an alias, kind "guid".
    Another source giving the same GUID to a different story gets an article of its own:
    GUIDs identify within one source only.
    """
    site = identities.web.a
    tariff, moved, bridge = site.url(TARIFF), site.url(TARIFF_MOVED), site.url(BRIDGE)
    mine = [x for x in identities.articles if x["source"] in ("desk", "wires")]
    assert sorted(x["url"] for x in mine) == sorted([tariff, bridge])
    stored = by_url(mine)
    story = stored[tariff]
    assert (story["source"], story["guid"]) == ("desk", SHARED_GUID)
    assert story["title"] == "Water bills to rise by nine per cent in April"
    other = stored[bridge]
    assert (other["source"], other["guid"]) == ("wires", SHARED_GUID)
    assert (other["urls"], other["duplicates"]) == ([bridge], [])
    first, second, wires = (
        identities.run("desk", 0),
        identities.run("desk", 1),
        identities.run("wires"),
    )
    assert (first["new"], second["new"], wires["new"]) == (1, 0, 1)
    # The GUID is known: the moved link is not fetched, but it is recorded as an alias.
    assert site.hits(TARIFF_MOVED) == []
    assert story["urls"] == [tariff, moved]
    assert story["duplicates"] == [{"url": moved, "kind": "guid", "similarity": None}]
    assert second["known_skipped"] == 1
    assert duplicates(second) == dict.fromkeys(DUPLICATE_KINDS, 0)
    assert duplicates(wires) == dict.fromkeys(DUPLICATE_KINDS, 0)
    check_summary_matches_runs(identities.crawls[0].stdout, [first])
    check_summary_matches_runs(identities.crawls[1].stdout, [second, wires])


# -- 4. and 5. the Valley Ledger and its word-for-word copy --------------------------------
@pytest.fixture(scope="module")
def ledger(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Crawled]:
    """One crawl, with JSON logs, of The Valley Ledger (site A: seven distinct short stories
    sharing a template opening sentence and a 60-word closing blurb, two of them bridge
    closures written from one house template) and of Dales Digest (site B), which copies
    the Ledger's school story word for word in its own layout. The two sources are crawled
    together, so either copy of that story may be stored first.
    """
    tmp_path = tmp_path_factory.mktemp("ledger")
    with LocalSite() as a, LocalSite() as b:
        web = Web(a, b)
        ledger_feed = web.serve(a, LEDGER_FEED, "feeds/ledger.atom.xml", ATOM)
        mirror_feed = web.serve(b, MIRROR_FEED, "feeds/mirror.rss.xml", RSS)
        for path in LEDGER:
            web.serve_page(a, "ledger", path)
        web.serve_page(b, "mirror", MIRROR)
        db_url = f"sqlite:///{tmp_path / 'newsrelay.db'}"
        config = write_config(
            tmp_path / "newsrelay.toml",
            db_url,
            source_toml("ledger", ledger_feed) + source_toml("mirror", mirror_feed),
        )

        result = crawl(config, "ledger", "mirror", json_logs=True)

        yield Crawled(web, [result], export(config), crawl_runs(db_url))


def test_distinct_stories_sharing_boilerplate_are_not_merged(ledger: Crawled) -> None:
    """Seven different Valley Ledger stories (120-300 words each) that all open with the
    same template sentence and end with the same 60-word support-us blurb, both inside the
    article body and so in the stored text, two of them bridge closures written from one
    house template (Jaccard about 0.54: they share an LSH band, so only the exact
    verification keeps them apart): seven articles, not one near-duplicate.
    """
    a = ledger.web.a
    urls = [a.url(path) for path in LEDGER]
    stored = by_url(ledger.articles)
    assert len({id(stored[url]) for url in urls}) == len(LEDGER)
    assert all(len(a.hits(path)) == 1 for path in LEDGER)
    for url in urls:
        article = stored[url]
        # Nothing but the word-for-word copy (test 5) was merged into any of them.
        assert set(article["urls"]) <= {url, a.url(MIRRORED), ledger.web.b.url(MIRROR)}, url
        assert all(d["kind"] == "content" for d in article["duplicates"]), article["duplicates"]
        lines = article["text"].splitlines()
        # The shared text really is part of what dedup compares.
        assert (lines[0], lines[-1]) == (LEDGER_OPENING, LEDGER_BLURB), url
        words = len(" ".join(lines[1:-1]).split())
        assert 120 <= words <= 300, (url, words)
    # The closest pair is close indeed, yet below the threshold.
    aldbury, kirkby = (shingles(stored[a.url(path)]["text"]) for path in LEDGER[3:5])
    assert 0.5 < jaccard(aldbury, kirkby) < NEAR_THRESHOLD
    runs = [ledger.run("ledger"), ledger.run("mirror")]
    assert [r["duplicates_near"] for r in runs] == [0, 0]
    assert sum(r["new"] for r in runs) == len(LEDGER)
    check_summary_matches_runs(ledger.crawls[0].stdout, runs)


def test_same_text_at_two_addresses_is_a_content_duplicate(ledger: Crawled) -> None:
    """The same text at two addresses of two sources (the Ledger's school story and Dales
    Digest's word-for-word copy in another layout) is one article whose second address is
    a duplicate of kind "content" (no similarity), counted in the crawl_runs row of the
    source that came second, in its summary row and in its JSON "crawl finished" record.
    """
    original, copy = ledger.web.a.url(MIRRORED), ledger.web.b.url(MIRROR)
    story = by_url(ledger.articles)[original]
    first, second = story["url"], ({original, copy} - {story["url"]}).pop()
    assert story["urls"] == [first, second]
    assert story["duplicates"] == [{"url": second, "kind": "content", "similarity": None}]
    assert story["source"] == ("ledger" if first == original else "mirror")
    assert sum(len(x["duplicates"]) for x in ledger.articles) == 1
    later = "mirror" if first == original else "ledger"
    runs = {name: ledger.run(name) for name in ("ledger", "mirror")}
    assert duplicates(runs[later]) == {**dict.fromkeys(DUPLICATE_KINDS, 0), "content": 1}
    check_summary_matches_runs(ledger.crawls[0].stdout, list(runs.values()))
    records = finished_records(ledger.crawls[0].stderr)
    for name, run in runs.items():
        assert records[name]["run_id"] == run["id"]
        assert {k: records[name][f"duplicates_{k}"] for k in DUPLICATE_KINDS} == duplicates(run)
        assert records[name]["duplicates"] == sum(duplicates(run).values())


# -- the keys themselves --------------------------------------------------------------------
PINNED_TEXT = (
    "Iran's foreign minister said on Tuesday that talks with the European trio would resume "
    "next week in Geneva, after a pause of two months. وزیر امور خارجه گفت که مذاکرات هفته "
    "آینده از سر گرفته می\u200cشود."
)


def test_dedup_keys_stay_what_the_database_holds() -> None:
    """Content hashes and LSH band keys are stored: a new version computing them otherwise
    would no longer recognise what older ones stored. These are the values since the first
    release (checked against its code)."""
    keys = text_keys(PINNED_TEXT)
    assert keys.content_hash == "bdc98c50331954b387cdba686676c55e6655f57eb1adbc29a6db647a466edd84"
    assert keys.near is not None
    assert keys.near.bands[:4] == (
        2936321889061173489,
        2568552618734396642,
        37586439728550701,
        5016114271587593939,
    )
    assert keys.near.bands[-1] == 6081313237039519417


def test_pure_python_verification_agrees_with_numpy() -> None:
    """The crawler process verifies candidates without numpy: same shingles, same Jaccard."""
    pages = sorted(DEDUP.rglob("*.html"))
    texts = [PINNED_TEXT] + [
        process_page(
            page.read_bytes(), "text/html; charset=utf-8", f"http://x.test/{page.name}"
        ).text
        for page in pages
    ]
    assert len(texts) > 20 and all(texts)
    for each in texts:
        assert shingle_set(each) == set(shingles(each).tolist())
    for a, b in itertools.pairwise(texts):
        near = text_keys(a).near
        assert near is not None
        assert near.similarity(b) == pytest.approx(jaccard(shingles(a), shingles(b)), abs=1e-12)
