"""What learning each source's template (``crawler.templates``) does to the stored text of the
bench site: shingle F1 against the site's own article paragraphs, with and without it, and
every paragraph it dropped that was not boilerplate.

```
.venv/bin/python bench/template_bench.py --outlets 4 --stories 300
```

The site (``layout.py``) is served in this process; ``newsrelay crawl --all`` runs twice as a
subprocess, into two databases: ``learn_template = false`` on every source, then the default;
then ``newsrelay reextract`` extracts the second crawl's kept pages again with the template it
learnt (``with_learnt_template``): what every later page of a source gets, where one first
crawl extracts many pages before it has learnt anything.
The truth of a page is the text of its article body's ``<p>`` elements (not its teaser box).
Then the same again with two lines of each outlet's own inside every article body (a
"follow us" line at its end, a newsletter plug after its second paragraph), which extraction
keeps as text: the boilerplate a template is for, and not the truth.
A dropped paragraph is a line of an article's text without the template that its text with
the template lacks; each is looked for in every article page the site serves: a paragraph
found on fewer than ``BOILERPLATE_PAGES`` pages must never go, nor any paragraph of the
truth.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path
from statistics import mean
from typing import Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lxml import html as lxml_html

from bench.extract_bench import f1, shingles
from bench.layout import SiteSpec
from bench.newssite import serve
from crawler.fingerprints import paragraph_key
from crawler.templates import BOILERPLATE_PAGES

NEWSRELAY = Path(sys.executable).parent / "newsrelay"


def crawled(config: Path, timeout: float, first: str = "crawl") -> list[dict[str, Any]]:
    """``newsrelay crawl --all`` (or ``reextract``: the kept pages again, with the template
    the crawl learnt) with ``config``, then every stored article (export jsonl)."""
    step = ["crawl", "--all"] if first == "crawl" else ["reextract"]
    for args in (step, ["export", "--format", "jsonl"]):
        done = subprocess.run(
            [str(NEWSRELAY), "--config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if done.returncode not in (0, 1):  # 1: some page failed; the figures still hold
            raise SystemExit(f"newsrelay {' '.join(args)} failed: {done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines()]


def truths(pages: list[Any], bases: list[str]) -> dict[str, str]:
    """URL -> the article body's paragraphs, one per line."""
    found = {}
    for page in pages:
        if page.kind != "article":
            continue
        root = lxml_html.fromstring(page.body)
        paragraphs = root.xpath('//div[@class="article-body"]/p')
        text = "\n".join(" ".join(p.text_content().split()) for p in paragraphs)
        found[bases[page.outlet] + page.path] = text
    return found


def scores(articles: list[dict[str, Any]], truth: dict[str, str]) -> dict[str, float]:
    """Mean precision, recall and F1 of each stored article's text against its page's."""
    rows = [f1(shingles(truth[a["url"]]), a["text"]) for a in articles if a["url"] in truth]
    return {
        "articles": len(rows),
        "precision": round(mean(r[0] for r in rows), 4),
        "recall": round(mean(r[1] for r in rows), 4),
        "f1": round(mean(r[2] for r in rows), 4),
    }


def site_counts(bodies: dict[str, bytes]) -> Counter[int | None]:
    """Paragraph fingerprint -> on how many article pages of the site it is (in the article
    body: its paragraphs, teaser box and any added line)."""
    counts: Counter[int | None] = Counter()
    for body in bodies.values():
        root = lxml_html.fromstring(body)
        blocks = root.xpath('//div[@class="article-body"]//*[self::p or self::aside or self::li]')
        counts.update({paragraph_key(" ".join(b.text_content().split())) for b in blocks})
    return counts


def dropped(
    without: list[dict[str, Any]],
    with_: list[dict[str, Any]],
    truth: dict[str, str],
    on_pages: Counter[int | None],
) -> dict[str, int]:
    """The paragraphs the template dropped: how many, how many are on one page of the site
    only, or on fewer than BOILERPLATE_PAGES, and how many were truth."""
    true_keys = {paragraph_key(x) for text in truth.values() for x in text.split("\n")}
    kept = {a["url"]: set(a["text"].split("\n")) for a in with_}
    figures = Counter[str]()
    for article in without:
        for line in article["text"].split("\n"):
            if article["url"] not in kept or line in kept[article["url"]]:
                continue
            pages = on_pages[paragraph_key(line)]
            figures["dropped"] += 1
            figures["dropped_on_one_page"] += pages == 1
            figures["dropped_below_threshold"] += pages < BOILERPLATE_PAGES
            figures["dropped_truth"] += paragraph_key(line) in true_keys
            if pages < BOILERPLATE_PAGES:
                print(f"dropped, on {pages} pages: {line[:100]}", file=sys.stderr)
    names = ("dropped", "dropped_on_one_page", "dropped_below_threshold", "dropped_truth")
    return {name: figures[name] for name in names}


def with_outlet_lines(page: Any, outlet: str) -> bytes:
    """``page``'s body with the outlet's two lines in its article body."""
    body = page.body.decode("utf-8")
    start = body.index('<div class="article-body">')
    end = body.index("\n</div>", start)
    follow = f"<p>Follow {outlet} on Telegram and WhatsApp for the latest news and analysis.</p>"
    plug = f"<p>Sign up for the {outlet} morning briefing: the news before breakfast.</p>"
    body = body[:end] + "\n" + follow + body[end:]
    second = body.index("</p>", body.index("</p>", start) + 4) + 4
    return (body[:second] + "\n" + plug + body[second:]).encode("utf-8")


def measure(
    news: Any, truth: dict[str, str], bodies: dict[str, bytes], timeout: float
) -> dict[str, Any]:
    """Both crawls (without, then with the template), the second's pages extracted again with
    the template it learnt, and their figures."""
    results: dict[str, Any] = {}
    runs = {}
    with tempfile.TemporaryDirectory(prefix="template-bench-") as workdir:
        for name, extra in (("without", "learn_template = false\n"), ("with", "")):
            config = Path(workdir) / f"{name}.toml"
            toml = news.config_toml(Path(workdir) / f"{name}.db")
            config.write_text(toml.replace("[[sources]]\n", f"[[sources]]\n{extra}"))
            runs[name] = crawled(config, timeout)
            results[name] = scores(runs[name], truth)
        # What every later page of a source gets: the first crawl's pages extracted again
        # with the template it learnt (in one first crawl, pages extracted before it is
        # learnt keep their boilerplate).
        runs["learnt"] = crawled(config, timeout, first="reextract")
        results["with_learnt_template"] = scores(runs["learnt"], truth)
    on_pages = site_counts(bodies)
    results["template"] = dropped(runs["without"], runs["with"], truth, on_pages)
    results["learnt_template"] = dropped(runs["without"], runs["learnt"], truth, on_pages)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--outlets", type=int, default=4)
    parser.add_argument("--stories", type=int, default=300)
    parser.add_argument("--seed", type=int, default=SiteSpec.seed)
    parser.add_argument("--timeout", type=float, default=300.0, help="per subprocess, seconds")
    args = parser.parse_args(argv)
    spec = SiteSpec(args.outlets, SiteSpec.feeds_per_outlet, args.stories, args.seed)
    news, sites, pages = serve(spec)
    try:
        bases = [outlet.base for outlet in news.outlets]
        truth = truths(pages, bases)
        articles = [page for page in pages if page.kind == "article"]
        bodies = {bases[page.outlet] + page.path: page.body for page in articles}
        results = {"site": measure(news, truth, bodies, args.timeout)}
        for page in articles:
            body = with_outlet_lines(page, news.outlets[page.outlet].name)
            sites[page.outlet].add(page.path, body, gzip=page.gzip)
            bodies[bases[page.outlet] + page.path] = body
        results["site_with_outlet_lines"] = measure(news, truth, bodies, args.timeout)
    finally:
        for site in sites:
            site.stop()
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
