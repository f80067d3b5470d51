"""Republishing formats: jsonl, txt, html, md, atom.

Every format is rendered from a :class:`StoredArticle`. HTML is sanitized again on the way
out (an allowlist: no script, no event handler, no ``javascript:`` URL), whatever the
database holds; Markdown and text carry no markup from the page at all.
"""

from __future__ import annotations

import html as html_lib
import json
import mimetypes
import os
import re
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

from storage.html_policy import clean_html, safe_url
from storage.records import StoredArticle

FORMATS = ("jsonl", "txt", "html", "md", "atom")
EXTENSIONS = {"jsonl": "jsonl", "txt": "txt", "html": "html", "md": "md", "atom": "xml"}
TXT_SEPARATOR = "\n\n" + "=" * 40 + "\n\n"

_SLUG = re.compile(r"[^\w]+", re.UNICODE)
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>])")


def paragraphs(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


def _date(value: datetime | None) -> str:
    return value.astimezone(UTC).isoformat() if value else ""


# -- per-article renderers ------------------------------------------------------------------
def article_dict(article: StoredArticle) -> dict[str, Any]:
    """Every exported field of one article, JSON-ready (datetimes in ISO 8601)."""
    return {
        "id": article.id,
        "source": article.source,
        "url": article.url,
        "urls": article.urls,
        "original_url": article.original_url,
        "page_canonical_url": article.page_canonical_url,
        "guid": article.guid,
        "title": article.title,
        "author": article.author,
        "language": article.language,
        "language_source": article.language_source,
        "published": article.published_at.isoformat() if article.published_at else None,
        "fetched": article.fetched_at.isoformat(),
        "text": article.text,
        "html": clean_html(article.html),
        "content_hash": article.content_hash,
        "duplicates": article.duplicates,
        "image": safe_url(article.image or "") or None,
        "image_caption": article.image_caption,
        "image_credit": article.image_credit,
        "image_path": article.image_path,
        "revision": article.revision,
        "updated": article.updated_at.isoformat() if article.updated_at else None,
    }


def render_jsonl(article: StoredArticle, _header: Sequence[str] = ()) -> str:
    return json.dumps(article_dict(article), ensure_ascii=False) + "\n"


def render_txt(article: StoredArticle, header: Sequence[str] = ()) -> str:
    """The republishing shape: header lines, the source URL, the title, the date, the body."""
    lines = [*header, article.url, article.title, _date(article.published_at), ""]
    body = "\n\n".join(paragraphs(article.text))
    return "\n".join(lines) + "\n" + body + "\n" + _txt_image(article)


def _txt_image(article: StoredArticle) -> str:
    """The lead image after the body (the lines above keep their places for readers that
    count them): its URL, then its caption and credit."""
    url = safe_url(article.image or "")
    if not url:
        return ""
    described = " ".join(filter(None, (article.image_caption, _credit(article))))
    return f"\nImage: {url}\n" + (f"{described}\n" if described else "")


def _credit(article: StoredArticle) -> str | None:
    return f"({article.image_credit})" if article.image_credit else None


def render_md(article: StoredArticle, header: Sequence[str] = ()) -> str:
    head = [_md_escape(line) for line in header]
    lines = [
        *head,
        *([""] if head else []),
        f"# {_md_escape(article.title)}",
        "",
        f"Source: <{safe_url(article.url)}>",
        "",
        f"Published: {_date(article.published_at)}",
        "",
    ]
    body = "\n\n".join(_md_escape(p) for p in paragraphs(article.text))
    return "\n".join(lines) + _md_image(article) + body + "\n"


def _md_image(article: StoredArticle) -> str:
    """``![caption](<url>)``, then the credit: the URL in angle brackets, with what would end
    it (spaces, ``<``, ``>``) percent-encoded; the caption escaped like all text."""
    url = safe_url(article.image or "")
    if not url:
        return ""
    url = url.replace(" ", "%20").replace("<", "%3C").replace(">", "%3E")
    credit = f"\n{_md_escape(_credit(article) or '')}" if article.image_credit else ""
    return f"![{_md_escape(article.image_caption or '')}](<{url}>){credit}\n\n"


def render_html(article: StoredArticle, header: Sequence[str] = ()) -> str:
    e = html_lib.escape
    head = "".join(f'<p class="header">{e(line)}</p>\n' for line in header)
    lang = f' lang="{e(article.language)}"' if article.language else ""
    url = e(safe_url(article.url))
    return (
        f'<!doctype html>\n<html{lang}>\n<head>\n<meta charset="utf-8">\n'
        f"<title>{e(article.title)}</title>\n"
        f'<link rel="canonical" href="{url}">\n</head>\n<body>\n<article>\n{head}'
        f"<h1>{e(article.title)}</h1>\n"
        f'<p class="source"><a href="{url}" rel="noopener noreferrer">{url}</a></p>\n'
        f'<p class="date"><time datetime="{e(_date(article.published_at))}">'
        f"{e(_date(article.published_at))}</time></p>\n"
        f"{_html_image(article)}"
        f"{clean_html(article.html)}\n</article>\n</body>\n</html>\n"
    )


def _html_image(article: StoredArticle) -> str:
    """``<figure>`` with the lead image and its caption and credit, every value escaped."""
    e = html_lib.escape
    url = safe_url(article.image or "")
    if not url:
        return ""
    caption = " ".join(filter(None, (article.image_caption, _credit(article))))
    figcaption = f"<figcaption>{e(caption)}</figcaption>" if caption else ""
    alt = e(article.image_caption or "")
    return f'<figure class="lead"><img src="{e(url)}" alt="{alt}">{figcaption}</figure>\n'


RENDERERS = {"jsonl": render_jsonl, "txt": render_txt, "md": render_md, "html": render_html}


def _md_escape(text: str) -> str:
    # Escaping Markdown's specials also defuses raw HTML (<script>) and links ([x](javascript:)).
    return _MD_SPECIAL.sub(r"\\\1", text)


# -- streams and files ----------------------------------------------------------------------
def write_stream(
    fmt: str,
    articles: Iterable[StoredArticle],
    out: TextIO,
    *,
    header: Sequence[str] = (),
    feed_title: str = "newsrelay",
    feed_id: str = "urn:newsrelay:export",
) -> int:
    """Write ``articles`` to one stream in ``fmt``; return how many were written."""
    if fmt == "atom":
        return write_atom(articles, out, title=feed_title, feed_id=feed_id)
    render = RENDERERS[fmt]
    count = 0
    for article in articles:
        if count and fmt in ("txt", "md"):
            out.write(TXT_SEPARATOR)
        elif count and fmt == "html":
            out.write("\n")
        out.write(render(article, header))
        count += 1
    return count


def write_export(
    fmt: str,
    articles: Iterable[StoredArticle],
    *,
    output: Path | None = None,
    output_dir: Path | None = None,
    header: Sequence[str] = (),
    feed_title: str = "newsrelay",
    feed_id: str = "urn:newsrelay:export",
) -> int:
    """Write ``articles`` to stdout, to the file ``output`` or as one file each into
    ``output_dir`` (stable names); every file appears whole or not at all. How many."""
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        count = 0
        for article in articles:
            with _output(output_dir / file_name(article, fmt)) as out:
                out.write(RENDERERS[fmt](article, header))
            count += 1
        return count
    with _output(output) as out:
        return write_stream(
            fmt, articles, out, header=header, feed_title=feed_title, feed_id=feed_id
        )


@contextmanager
def _output(path: Path | None) -> Iterator[TextIO]:
    if path is None:
        yield sys.stdout
        return
    # Write beside the target, then rename: a failed export never leaves half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent if str(path.parent) else ".", prefix=".export-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            yield out
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def file_name(article: StoredArticle, fmt: str) -> str:
    """A stable file name: the same article always gets the same name."""
    slug = _SLUG.sub("-", article.title.casefold()).strip("-")[:60] or "article"
    return f"{article.source}-{article.id:08d}-{slug}.{EXTENSIONS[fmt]}"


def write_atom(articles: Iterable[StoredArticle], out: TextIO, *, title: str, feed_id: str) -> int:
    """A valid Atom 1.0 feed (RFC 4287) of ``articles``."""
    entries = []
    newest: datetime | None = None
    for article in articles:
        updated = article.updated_at or article.published_at or article.fetched_at
        newest = max(newest, updated) if newest else updated
        entries.append(_atom_entry(article, updated))
    stamp = _date(newest or datetime.now(UTC))
    out.write('<?xml version="1.0" encoding="utf-8"?>\n')
    out.write('<feed xmlns="http://www.w3.org/2005/Atom">\n')
    out.write(f"  <id>{_xml_text(feed_id)}</id>\n  <title>{_xml_text(title)}</title>\n")
    out.write(f"  <updated>{stamp}</updated>\n")
    out.write("  <generator>newsrelay</generator>\n")
    for entry in entries:
        out.write(entry)
    out.write("</feed>\n")
    return len(entries)


def _atom_enclosure(image: str | None) -> str:
    """``<link rel="enclosure">`` for the lead image, its type guessed from the file name
    (Atom makes ``type`` optional: left out when the name does not say)."""
    url = safe_url(image or "")
    if not url:
        return ""
    media_type, _ = mimetypes.guess_type(urlsplit(url).path)
    typed = f' type="{media_type}"' if media_type and media_type.startswith("image/") else ""
    return f'    <link rel="enclosure" href="{_xml_text(url, {chr(34): "&quot;"})}"{typed}/>\n'


# Characters XML 1.0 forbids (C0 controls but tab and newlines, lone surrogates, U+FFFE/F):
# a feed carrying one of them, say from a title with "&#14;" in it, is not XML at all, and a
# feed reader rejects every entry.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(text: str, entities: dict[str, str] | None = None) -> str:
    """``text`` escaped for XML, without the characters XML cannot carry."""
    return xml_escape(_NOT_XML.sub("", text), entities or {})


def _atom_entry(article: StoredArticle, updated: datetime) -> str:
    x = _xml_text
    url = safe_url(article.url)
    author = x(article.author or article.source)
    enclosure = _atom_enclosure(article.image)
    entry_id = article.first_content_hash or article.content_hash  # kept through corrections
    published = (
        f"    <published>{_date(article.published_at)}</published>\n"
        if article.published_at
        else ""
    )
    return (
        "  <entry>\n"
        f"    <id>urn:newsrelay:article:{x(entry_id)}</id>\n"
        f"    <title>{x(article.title)}</title>\n"
        f'    <link rel="alternate" href="{x(url, {chr(34): "&quot;"})}"/>\n{enclosure}'
        f"    <updated>{_date(updated)}</updated>\n{published}"
        f"    <author><name>{author}</name></author>\n"
        f'    <content type="html">{x(clean_html(article.html))}</content>\n'
        "  </entry>\n"
    )
