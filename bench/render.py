"""Render the generated news web's pages: article HTML with real-world boilerplate, feeds.

An article page carries what a crawler meets on a real outlet: a cookie banner, a header with a
long nav menu, a "most read" sidebar, related-story links, a comment section, a large footer,
JSON-LD and Open Graph metadata, and now and then a ~150 KB page bloated by an inline state blob.
Every random choice comes from an RNG seeded by the story, so a page renders the same bytes
whatever order pages are rendered in.
"""

from __future__ import annotations

import json
import random
from email.utils import format_datetime
from html import escape
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape as xml_escape

from bench.vocabulary import PLACES, SECTIONS, person, sentence

if TYPE_CHECKING:
    from bench.layout import Feed, Outlet, Story

HEAVY_PAGE_SHARE = 0.02


def robots(outlet: Outlet) -> bytes:
    return f"User-agent: *\nAllow: /\n\nSitemap: {outlet.base}/sitemap.xml\n".encode()


def home(outlet: Outlet, feeds: list[Feed]) -> bytes:
    """A small front page that links the feeds and the newest stories."""
    alternates = "".join(
        f'<link rel="alternate" type="application/{f.kind}+xml" href="{f.url}" '
        f'title="{escape(outlet.name)}: {escape(outlet.language.sections[f.section])}">\n'
        for f in feeds
    )
    items = "".join(
        f'<li><a href="{s.path}">{escape(s.title)}</a></li>\n' for s in outlet.stories[:30]
    )
    lang = outlet.language
    return (
        f'<!DOCTYPE html>\n<html lang="{lang.code}" dir="{lang.direction}"><head>'
        f'<meta charset="utf-8"><title>{escape(outlet.name)}</title>\n{alternates}</head>'
        f"<body>{_nav(outlet)}<main><ul>\n{items}</ul></main>{_footer(outlet)}</body></html>\n"
    ).encode()


def feed(feed: Feed, seed: int) -> tuple[bytes, str]:
    """The feed document and its content type."""
    if feed.kind == "atom":
        return _atom(feed, seed), "application/atom+xml; charset=utf-8"
    content_type = ("application/rss+xml", "text/xml", "application/xml")[feed.outlet.index % 3]
    return _rss(feed, seed), content_type + "; charset=utf-8"


def _summary(story: Story, seed: int) -> str:
    return sentence(random.Random(f"{seed}/{story.id}/summary"), story.outlet.language)


def _rss(feed: Feed, seed: int) -> bytes:
    outlet, lang = feed.outlet, feed.outlet.language
    items = []
    for entry in feed.entries:
        story = entry.story
        guid = (
            f'<guid isPermaLink="false">{story.outlet.slug}-{story.id}</guid>'
            if story.outlet is outlet and outlet.index % 2
            else f"<guid>{xml_escape(story.url)}</guid>"
        )
        items.append(
            f"<item><title>{xml_escape(story.title)}</title>"
            f"<link>{xml_escape(entry.link)}</link>{guid}"
            f"<pubDate>{format_datetime(story.published, usegmt=True)}</pubDate>"
            f"<dc:creator>{xml_escape(story.author)}</dc:creator>"
            f"<category>{xml_escape(lang.sections[story.section])}</category>"
            f"<description>{xml_escape(_summary(story, seed))}</description></item>"
        )
    newest = feed.entries[0].story.published if feed.entries else None
    built = format_datetime(newest, usegmt=True) if newest else ""
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<rss version="2.0" xmlns:atom="http://www.w3.org/2005/Atom" '
        'xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>\n'
        f"<title>{xml_escape(outlet.name)} - {xml_escape(lang.sections[feed.section])}</title>"
        f"<link>{outlet.base}/</link><description>{xml_escape(outlet.name)}</description>"
        f"<language>{lang.code}</language><lastBuildDate>{built}</lastBuildDate>"
        f'<atom:link href="{xml_escape(feed.url)}" rel="self" type="application/rss+xml"/>\n'
        + "\n".join(items)
        + "\n</channel></rss>\n"
    ).encode()


def _atom(feed: Feed, seed: int) -> bytes:
    outlet, lang = feed.outlet, feed.outlet.language
    entries = []
    for entry in feed.entries:
        story = entry.story
        published = story.published.isoformat()
        entries.append(
            f"<entry><title>{xml_escape(story.title)}</title>"
            f"<id>tag:{story.outlet.host.split(':')[0]},2026:{story.id}</id>"
            f'<link rel="alternate" type="text/html" href="{xml_escape(entry.link)}"/>'
            f"<published>{published}</published><updated>{published}</updated>"
            f"<author><name>{xml_escape(story.author)}</name></author>"
            f'<category term="{xml_escape(story.section)}"/>'
            f'<summary type="html">{xml_escape(_summary(story, seed))}</summary></entry>'
        )
    updated = feed.entries[0].story.published.isoformat() if feed.entries else ""
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        f'<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="{lang.code}">\n'
        f"<title>{xml_escape(outlet.name)} - {xml_escape(lang.sections[feed.section])}</title>"
        f"<id>{xml_escape(feed.url)}</id><updated>{updated}</updated>"
        f'<link rel="self" href="{xml_escape(feed.url)}"/>'
        f'<link rel="alternate" type="text/html" href="{outlet.base}/"/>\n'
        + "\n".join(entries)
        + "\n</feed>\n"
    ).encode()


def article(story: Story, seed: int) -> bytes:
    """The full article page of ``story``."""
    rng = random.Random(f"{seed}/{story.id}")
    outlet, lang = story.outlet, story.outlet.language
    labels = lang.labels
    heavy = rng.random() < HEAVY_PAGE_SHARE
    paragraphs = [
        " ".join(sentence(rng, lang) for _ in range(rng.randint(2, 6)))
        for _ in range(rng.randint(4, 12))
    ]
    body = [f"<p>{escape(p)}</p>" for p in paragraphs]
    if len(body) > 4:  # an in-body teaser, as most outlets insert one
        teaser = rng.choice(outlet.stories)
        body.insert(
            len(body) // 2,
            f'<aside class="inline-related"><strong>{labels["read_more"]}:</strong> '
            f'<a href="{teaser.path}">{escape(teaser.title)}</a></aside>',
        )
    others = [s for s in outlet.stories if s is not story]
    most_read = rng.sample(others, min(10, len(others)))
    related = [s for s in others if s.section == story.section][:6]
    comments = rng.randint(40, 60) if heavy else rng.choice((0, 0, 2, 5, 8, 12, 15))
    when = story.published.isoformat()
    summary = _summary(story, seed)
    json_ld = json.dumps(
        {
            "@context": "https://schema.org",
            "@type": "NewsArticle",
            "headline": story.title,
            "datePublished": when,
            "dateModified": when,
            "author": [{"@type": "Person", "name": story.author}],
            "publisher": {"@type": "Organization", "name": outlet.name},
            "mainEntityOfPage": story.url,
            "articleSection": lang.sections[story.section],
        },
        ensure_ascii=False,
    )
    parts = [
        f'<!DOCTYPE html>\n<html lang="{lang.code}" dir="{lang.direction}">\n<head>\n'
        '<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(story.title)} | {escape(outlet.name)}</title>\n"
        f'<meta name="description" content="{escape(summary)}">\n'
        f'<meta name="author" content="{escape(story.author)}">\n'
        f'<meta property="og:type" content="article">\n'
        f'<meta property="og:title" content="{escape(story.title)}">\n'
        f'<meta property="og:url" content="{story.url}">\n'
        f'<meta property="og:site_name" content="{escape(outlet.name)}">\n'
        f'<meta property="og:description" content="{escape(summary)}">\n'
        f'<meta property="og:image" content="{outlet.base}/img/{story.id}/1200x630.jpg">\n'
        f'<meta property="article:published_time" content="{when}">\n'
        f'<meta property="article:section" content="{escape(lang.sections[story.section])}">\n'
        '<meta name="twitter:card" content="summary_large_image">\n'
        f'<link rel="canonical" href="{story.url}">\n'
        f'<link rel="stylesheet" href="/static/css/main.{story.outlet.index:04x}9f3.css">\n'
        '<link rel="preload" href="/static/fonts/body.woff2" as="font" crossorigin>\n'
        f'<script type="application/ld+json">{json_ld}</script>\n'
        f"<script>{_analytics(outlet, story)}</script>\n",
        _state_blob(rng, outlet) if heavy else "",
        f'</head>\n<body class="article-page section-{story.section}">\n',
        _cookie_banner(outlet),
        _nav(outlet),
        '<div class="layout">\n<main id="content">\n<article class="story">\n<header>\n'
        f'<p class="kicker"><a href="/{story.section}/">'
        f"{escape(lang.sections[story.section])}</a></p>\n"
        f'<h1 class="headline">{escape(story.title)}</h1>\n'
        f'<p class="byline">{labels["by"]} <a rel="author" href="/authors/'
        f'{story.author.lower().replace(" ", "-")}">{escape(story.author)}</a></p>\n'
        f'<time datetime="{when}">{story.published.strftime("%d %B %Y, %H:%M")}</time>\n'
        "</header>\n"
        f'<figure class="lead-image"><img src="/img/{story.id}/800x450.jpg" '
        f'alt="{escape(story.title)}" width="800" height="450">'
        f"<figcaption>{escape(rng.choice(PLACES))} &middot; Photo: "
        f"{escape(person(rng))}/Agency</figcaption></figure>\n"
        '<div class="article-body">\n' + "\n".join(body) + "\n</div>\n",
        _share(outlet, story),
        _story_list("related", labels["related"], related),
        "</article>\n",
        _comments(rng, story, comments),
        "</main>\n",
        '<aside class="sidebar">\n',
        _story_list("most-read", labels["most_read"], most_read, numbered=True),
        f'<div class="newsletter"><h3>{labels["newsletter"]}</h3><form action="/newsletter">'
        '<input type="email" name="email"><button>' + labels["subscribe"] + "</button></form>"
        '</div>\n<div class="ad-slot" data-slot="sidebar-1"></div>\n</aside>\n</div>\n',
        _footer(outlet),
        "</body>\n</html>\n",
    ]
    return "".join(parts).encode()


def _nav(outlet: Outlet) -> str:
    lang = outlet.language
    links = [("/", lang.labels["home"])]
    links += [(f"/{s}/", lang.sections[s]) for s in SECTIONS[1:]]
    links += [(f"/{k}/", lang.labels[k]) for k in ("live", "video", "podcasts", "opinion")]
    links += [(f"/region/{p.lower()}/", p) for p in PLACES[:6]]
    items = "".join(f'<li><a href="{href}">{escape(text)}</a></li>' for href, text in links)
    return (
        f'<header class="site-header"><a class="logo" href="/">{escape(outlet.name)}</a>\n'
        f'<nav class="main-nav" aria-label="Main"><ul>{items}</ul></nav>\n'
        f'<form class="search" action="/search"><input name="q" placeholder="'
        f'{lang.labels["search"]}"></form></header>\n'
    )


def _cookie_banner(outlet: Outlet) -> str:
    labels = outlet.language.labels
    return (
        '<div id="cookie-banner" class="cookie-consent" role="dialog">'
        f'<p>{escape(labels["cookie"])} <a href="/privacy/">{labels["privacy"]}</a></p>'
        f'<button class="accept">{labels["accept"]}</button>'
        f'<button class="settings">{labels["settings"]}</button></div>\n'
    )


def _share(outlet: Outlet, story: Story) -> str:
    networks = ("facebook", "x", "whatsapp", "telegram", "linkedin", "email")
    links = "".join(
        f'<a class="share-{n}" href="https://share.example/{n}?u={story.url}">{n}</a>'
        for n in networks
    )
    return f'<div class="share"><span>{outlet.language.labels["share"]}</span>{links}</div>\n'


def _story_list(css: str, title: str, stories: list[Story], numbered: bool = False) -> str:
    tag = "ol" if numbered else "ul"
    items = "".join(
        f'<li><a href="{s.path}">{escape(s.title)}</a>'
        f'<span class="ago">{s.published.strftime("%H:%M")}</span></li>'
        for s in stories
    )
    return f'<section class="{css}"><h2>{escape(title)}</h2><{tag}>{items}</{tag}></section>\n'


def _comments(rng: random.Random, story: Story, count: int) -> str:
    if not count:
        return ""
    labels = story.outlet.language.labels
    items = []
    for n in range(count):
        text = " ".join(sentence(rng, story.outlet.language) for _ in range(rng.randint(1, 3)))
        items.append(
            f'<li class="comment" id="c{story.id}-{n}"><div class="comment-meta">'
            f'<span class="comment-author">{escape(person(rng))}</span> '
            f'<time datetime="{story.published.isoformat()}">{rng.randint(1, 59)} min</time>'
            f'</div><div class="comment-body"><p>{escape(text)}</p></div>'
            f'<a href="#reply-{n}">{labels["reply"]}</a> <a href="#report-{n}">'
            f"{labels['report']}</a></li>"
        )
    return (
        f'<section id="comments" class="comments"><h2>{labels["comments"]} ({count})</h2>'
        f'<ol class="comment-list">{"".join(items)}</ol></section>\n'
    )


def _footer(outlet: Outlet) -> str:
    lang = outlet.language
    labels = lang.labels
    groups = {
        "sections": [(f"/{s}/", lang.sections[s]) for s in SECTIONS],
        "company": [
            (f"/{k}/", labels[k])
            for k in ("about", "contact", "careers", "advertise", "privacy", "terms")
        ],
        "follow": [
            (f"https://social.example/{n}/{outlet.slug}", n)
            for n in ("facebook", "x", "instagram", "youtube", "telegram", "rss")
        ],
        "archive": [(f"/archive/2026/{m:02d}/", f"2026-{m:02d}") for m in range(1, 13)],
        "regions": [(f"/region/{p.lower()}/", p) for p in PLACES],
    }
    columns = "".join(
        f'<div class="footer-col"><h4>{name}</h4><ul>'
        + "".join(f'<li><a href="{href}">{escape(text)}</a></li>' for href, text in links)
        + "</ul></div>"
        for name, links in groups.items()
    )
    return (
        f'<footer class="site-footer">{columns}\n'
        f'<p class="copyright">&copy; 2026 {escape(outlet.name)}. {labels["copyright"]}</p>'
        "</footer>\n"
    )


def _analytics(outlet: Outlet, story: Story) -> str:
    return (
        "window.dataLayer=window.dataLayer||[];function gtag(){dataLayer.push(arguments);}"
        f"gtag('js',new Date());gtag('config','G-{outlet.index:04d}NEWS',"
        f"{{content_group:'{story.section}',article_id:'{story.id}'}});"
        "(function(d,s){var j=d.createElement(s);j.async=true;"
        "j.src='/static/js/metrics.js';d.head.appendChild(j);})(document,'script');"
    )


def _state_blob(rng: random.Random, outlet: Outlet) -> str:
    """An inline preloaded-state script of ~110 KB, as single-page-app outlets ship."""
    teasers = [
        {
            "id": rng.randrange(10**6),
            "headline": " ".join(rng.sample(outlet.language.words, 8)),
            "url": f"/news/{rng.randrange(10**6)}",
            "image": {"src": f"/img/{rng.randrange(10**6)}.jpg", "w": 640, "h": 360},
            "tags": rng.sample(outlet.language.words, 4),
        }
        for _ in range(360)
    ]
    state = json.dumps({"page": {"teasers": teasers}}, ensure_ascii=False)
    return f"<script>window.__PRELOADED_STATE__ = {state};</script>\n"
