"""Safe exports after a real crawl: XSS payloads in article pages and in feed content never
reach an html, md or atom export as something a browser or feed reader would run.

A :class:`LocalSite` serves, per payload of ``tests/fixtures/xss/payloads.txt``, an article
page with the payload inside its body, and a feed entry whose page has no text, so that the
entry's own content (the payload in it) and title are what is stored. ``newsrelay crawl``
stores them; ``newsrelay export`` writes html and md (one file per article) and atom; each
output is parsed (lxml for HTML and XML; Markdown is rendered by markdown-it with raw HTML
on and every link scheme let through, so that only newsrelay's escaping protects it) and
every element and attribute checked: no script element, no ``on*`` handler, no
``javascript:``, ``vbscript:`` or ``data:text/html`` URL in any spelling a browser accepts.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from xml.sax.saxutils import escape

import feedparser
from lxml import etree
from lxml import html as lxml_html
from markdown_it import MarkdownIt

from tests.localsite import LocalSite
from tests.support import FIXTURES, article_html, run_newsrelay, write_config

PAYLOADS = [
    line
    for line in (FIXTURES / "xss" / "payloads.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
]
RSS = "application/rss+xml; charset=utf-8"
# Elements that run code or change where links and forms go; the html export's own <meta
# charset> and <link rel=canonical> are checked by their attributes instead.
FORBIDDEN_TAGS = {
    "script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "form",
    "style", "svg", "math", "template", "isindex",
}  # fmt: skip
BAD_SCHEMES = ("javascript:", "vbscript:", "data:text/html")
_INVISIBLE = re.compile(r"[\x00-\x20]+")  # browsers drop these inside a URL's scheme


def problems(root: etree._Element) -> list[str]:
    """What in a parsed tree a browser would run: the test's own checks, not newsrelay's."""
    found = []
    for element in root.iter():
        if not isinstance(element.tag, str):
            continue  # a comment or processing instruction: inert
        tag = etree.QName(element).localname.lower()
        if tag in FORBIDDEN_TAGS:
            found.append(f"<{tag}>")
        for name, value in element.attrib.items():
            attribute = etree.QName(name).localname.lower()
            plain = _INVISIBLE.sub("", value).lower()
            if attribute.startswith("on"):
                found.append(f"<{tag} {attribute}=>")
            if plain.startswith(BAD_SCHEMES) or any(f"url={s}" in plain for s in BAD_SCHEMES):
                found.append(f"<{tag} {attribute}={value!r}>")
            if attribute == "style" and ("javascript:" in plain or "expression(" in plain):
                found.append(f"<{tag} style={value!r}>")
            if tag == "meta" and value.lower() == "refresh":
                found.append("<meta http-equiv=refresh>")
    return found


def html_problems(markup: str) -> list[str]:
    if not markup.strip():
        return []
    return problems(lxml_html.document_fromstring(f"<html><body>{markup}</body></html>"))


def serve(site: LocalSite) -> int:
    """Two entries per payload: in an article page, and in a feed entry's content and title
    (its page has no text). Returns how many articles the crawl must store."""
    items = []
    for n, payload in enumerate(PAYLOADS):
        page = article_html(2000 + n).replace("</article>", f"{payload}<p>After.</p></article>")
        items.append((f"Page story {n}", site.add(f"/news/page-{n}.html", page), ""))
        empty = site.add(f"/news/feed-{n}.html", "<html><body><nav>Home</nav></body></html>")
        words = re.findall(r"<p>(.*?)</p>", article_html(3000 + n))
        content = f"<p>{words[0]}</p>{payload}<p>{words[1]}</p>"
        items.append((f"Feed story {n} {payload}", empty, content))
    feed = "".join(
        f"<item><title>{escape(title)}</title><link>{link}</link>"
        f"<description>{escape(content)}</description>"
        f"<content:encoded>{escape(content)}</content:encoded></item>"
        for title, link, content in items
    )
    site.add(
        "/feed.xml",
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0" '
        'xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>XSS</title>'
        f"{feed}</channel></rss>",
        content_type=RSS,
    )
    return len(items)


def test_exports_of_crawled_xss_payloads_are_inert(site: LocalSite, tmp_path: Path) -> None:
    expected = serve(site)
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'newsrelay.db'}",
        f'[[sources]]\nname = "xss"\nfeeds = ["{site.url("/feed.xml")}"]\n',
    )
    crawled = run_newsrelay("crawl", "xss", config=config)
    assert crawled.returncode == 0, crawled.stdout + crawled.stderr

    out = tmp_path / "out"
    for fmt in ("html", "md"):
        result = run_newsrelay(
            "export", "--format", fmt, "--output-dir", str(out / fmt), config=config
        )
        assert result.returncode == 0, result.stderr
    atom = out / "feed.atom"
    jsonl = out / "articles.jsonl"
    for fmt, path in (("atom", atom), ("jsonl", jsonl)):
        result = run_newsrelay("export", "--format", fmt, "--output", str(path), config=config)
        assert result.returncode == 0, result.stderr
        assert result.stderr.strip() == f"exported {expected} articles"  # every one stored

    # The payloads did reach the database: page bodies and feed-entry titles alike.
    articles = [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines()]
    assert sum("Feed story" in a["title"] and "<" in a["title"] for a in articles) > 30
    for article in articles:
        assert html_problems(article["html"]) == [], article["url"]

    html_files = sorted((out / "html").iterdir())
    assert len(html_files) == expected
    for path in html_files:
        document = lxml_html.document_fromstring(path.read_text(encoding="utf-8"))
        assert problems(document) == [], path.name

    markdown = MarkdownIt("commonmark")  # raw HTML passes through in CommonMark
    markdown.validateLink = lambda url: True  # let every scheme through: the escaping must hold
    md_files = sorted((out / "md").iterdir())
    assert len(md_files) == expected
    for path in md_files:
        rendered = markdown.render(path.read_text(encoding="utf-8"))
        assert html_problems(rendered) == [], (path.name, rendered)

    tree = etree.fromstring(atom.read_bytes())  # well-formed XML, whatever the payloads
    assert problems(tree) == []
    contents = tree.findall(".//{http://www.w3.org/2005/Atom}content")
    assert len(contents) == expected
    for content in contents:
        assert content.get("type") == "html"
        assert html_problems(content.text or "") == [], content.text
    # And as a feed reader sees it: parsed back without feedparser's own sanitizing.
    feed = feedparser.parse(io.BytesIO(atom.read_bytes()), sanitize_html=False)
    assert not feed.bozo, feed.get("bozo_exception")
    assert len(feed.entries) == expected
    for entry in feed.entries:
        assert html_problems(entry.content[0].value) == [], entry.link
        assert entry.link.startswith("http://127.0.0.1:")
