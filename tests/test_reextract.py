"""Re-extraction (#18 item 7): a source's wrong ``[sources.extract]`` rule stored the wrong
text; once the rule is fixed, ``newsrelay reextract --source`` repairs the stored article
from its kept raw page (a new revision) without a single request to the site."""

from __future__ import annotations

import random
from pathlib import Path

from tests.localsite import LocalSite
from tests.support import export, rss_of, run_newsrelay, write_config

WORDS = ("ferry", "harbour", "council", "budget", "river", "bridge", "storm", "market", "grid")


def sentences(seed: str) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(40)).capitalize() + "." for _ in range(3)]


def prose(seed: str) -> str:
    return "".join(f"<p>{sentence}</p>" for sentence in sentences(seed))


def page(n: int, promo: bool) -> str:
    aside = f'<div class="promo">{prose(f"promo-{n}")}</div>' if promo else ""
    return (
        f"<html><head><meta charset='utf-8'><title>Story {n}</title></head><body>"
        f'<div class="story"><h1>Story {n}</h1>{prose(f"story-{n}")}</div>{aside}</body></html>'
    )


def test_a_fixed_extract_rule_repairs_stored_text_without_a_request(
    site: LocalSite, db_url: str, tmp_path: Path
) -> None:
    paths = ["/wire/0.html", "/wire/1.html"]
    site.add(paths[0], page(0, promo=True))
    site.add(paths[1], page(1, promo=False))  # the wrong rule matches nothing: generic
    feed = site.add("/wire/feed.xml", rss_of(site, paths), content_type="application/rss+xml")
    source = f'[[sources]]\nname = "wire"\nfeeds = ["{feed}"]\n[sources.extract]\n'
    config = write_config(tmp_path / "newsrelay.toml", db_url, source + 'body = "div.promo"\n')
    crawled = run_newsrelay("crawl", "wire", config=config)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr
    before = {a["url"]: a for a in export(config)}
    wrong = before[site.url(paths[0])]
    assert wrong["revision"] == 1
    assert sentences("promo-0")[0] in wrong["text"]
    assert sentences("story-0")[0] not in wrong["text"]

    config.write_text(config.read_text().replace("div.promo", "div.story"))
    requests = len(site.requests)
    result = run_newsrelay("reextract", "--source", "wire", config=config)
    assert result.returncode == 0, result.stderr
    assert "pages 2, changed 1, unchanged 1, without text 0" in result.stdout
    assert len(site.requests) == requests  # no request to the site

    after = {a["url"]: a for a in export(config)}
    fixed = after[site.url(paths[0])]
    assert (fixed["id"], fixed["revision"]) == (wrong["id"], 2) and fixed["updated"]
    assert sentences("story-0")[0] in fixed["text"]
    assert sentences("promo-0")[0] not in fixed["text"]
    assert after[site.url(paths[1])]["revision"] == 1

    again = run_newsrelay("reextract", config=config)
    assert "pages 2, changed 0, unchanged 2" in again.stdout, again.stdout + again.stderr

    # keep_raw = "0": nothing is kept, and reextract deletes what was.
    config.write_text(config.read_text() + '\n[storage]\nkeep_raw = "0"\n')
    off = run_newsrelay("reextract", config=config)
    assert "pages 0," in off.stdout and off.stdout.rstrip().endswith(": 2"), off.stdout
