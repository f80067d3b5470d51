"""Hostile input: every case bounded in memory and time, one logged line, the crawl goes on.

One real ``newsrelay crawl --all`` runs over a local site serving, each as its own source:
a billion-laughs feed, external entities naming a local file, an external DTD, entries
linking to ``file:``, ``data:`` and ``javascript:`` URLs, a sitemap index naming local
files, a feed of 2 GB, an endless feed, a feed whose server never answers, a redirect loop;
and, as entries of one feed, pages of 2 GB (declared, and chunked), an endless page, a page
that drips a byte at a time, a gzip bomb, a redirect loop and a server that never answers.
A control source beside them must be stored as usual. The crawler's peak RSS and the run's
wall time are measured (``os.wait4`` on the subprocess) and bounded.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.localsite import LocalSite, SilentServer, repeated
from tests.support import FIXTURES, PEAK_RSS_LIMIT_MIB, json_logs, run_measured

HOSTILE = FIXTURES / "hostile"
FAKE_ORIGIN = b"http://newsrelay.test"
RSS = "application/rss+xml; charset=utf-8"
ATOM = "application/atom+xml"
TIMEOUT = 2.0  # [fetch] timeout of the test config, seconds
MAX_PAGE_BYTES = 1024 * 1024
TWO_GB = 2 * 1024**3
WALL_LIMIT_S = 60


def article(title: str) -> str:
    """An article page with text of its own (so that no two are duplicates)."""
    words = " ".join(f"{title.split()[0].lower()}{n}" for n in range(40))
    paragraphs = "".join(
        f"<p>{title} paragraph {n}: the council met on Tuesday to discuss {words}.</p>"
        for n in range(6)
    )
    return (
        f"<!doctype html><html lang='en'><head><title>{title}</title></head><body>"
        f"<article><h1>{title}</h1>{paragraphs}</article></body></html>"
    )


def rss(title: str, links: list[str]) -> str:
    items = "".join(
        f"<item><title>Entry {n}</title><link>{link}</link><guid>{link}</guid></item>"
        for n, link in enumerate(links)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{title}</title><link>http://example.invalid/</link>{items}</channel></rss>"
    )


def fixture(site: LocalSite, name: str, **replace: str) -> bytes:
    body = (HOSTILE / name).read_bytes().replace(FAKE_ORIGIN, site.base.encode("ascii"))
    for old, new in replace.items():
        body = body.replace(old.encode(), new.encode())
    return body


def drip() -> Iterator[bytes]:
    """A byte at a time, a little apart, for ever: only a timeout ends it."""
    while True:
        yield b" "
        time.sleep(0.1)


def gzip_bomb(size: int) -> bytes:
    """``size`` bytes of zeros, gzip-compressed a megabyte at a time (about 1000:1)."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1024 * 1024)
    parts = [compressor.compress(zeros) for _ in range(size // len(zeros))]
    return b"".join([*parts, compressor.flush()])


def sources_toml(sources: dict[str, dict[str, list[str]]]) -> str:
    return "".join(
        f'[[sources]]\nname = "{name}"\n'
        + "".join(f"{key} = {json.dumps(values)}\n" for key, values in tables.items())
        + "\n"
        for name, tables in sources.items()
    )


@dataclass
class HostileSite:
    """The local site of the test: sources (name -> config tables), pages, the secret."""

    site: LocalSite
    silent: SilentServer
    secret: Path
    token: str
    sources: dict[str, dict[str, list[str]]]
    ok_pages: dict[str, str]  # source -> the ordinary page its feed lists
    hostile_pages: dict[str, str]  # case -> URL, all entries of the "pages" source


def build_site(site: LocalSite, silent: SilentServer, tmp_path: Path) -> HostileSite:
    secret = tmp_path / "secret.txt"
    token = f"SECRET-{uuid.uuid4().hex}"
    secret.write_text(token, encoding="utf-8")
    ok_pages = {
        "control": "/news/control.html",
        "laughs": "/news/2026/03/harbour-strike.html",
        "xxe-file": "/story",
        "xxe-dtd": "/courier/2026/03/04/rail-tunnel.html",
        "bad-links": "/news/2026/03/solar-desalination.html",
        "pages": "/news/pages-ok.html",
    }
    for name, path in ok_pages.items():
        site.add(path, article(f"{name.capitalize()} story"))
    control = rss("control", [site.url(ok_pages["control"])])
    feeds = {
        "control": site.add("/feeds/control.xml", control, content_type=RSS),
        "laughs": site.add(
            "/feeds/laughs.xml", fixture(site, "billion-laughs.rss.xml"), content_type=RSS
        ),
        "xxe-file": site.add(
            "/feeds/xxe.xml",
            fixture(site, "xxe-file.rss.xml", SECRET_PATH=str(secret)),
            content_type=RSS,
        ),
        "xxe-dtd": site.add(
            "/feeds/xxe.atom", fixture(site, "xxe-dtd.atom.xml"), content_type=ATOM
        ),
        "bad-links": site.add(
            "/feeds/bad-links.xml", fixture(site, "bad-links.rss.xml"), content_type=RSS
        ),
    }
    # What the external DTDs would pull in, were they fetched: the secret.
    entity = f'<!ENTITY exfiltrate SYSTEM "file://{secret}">'
    for path in ("/evil.dtd", "/evil-entities.dtd"):
        site.add(path, entity, content_type="application/xml-dtd")
    block = b"<p>x</p>" * 8192  # 64 KiB
    redirect = {"status": 302, "conditional": False}
    hostile_pages = {
        "huge-declared": site.add_stream(
            "/huge-declared.html", repeated(block, TWO_GB), length=TWO_GB
        ),
        "huge-chunked": site.add_stream("/huge-chunked.html", repeated(block, TWO_GB)),
        "endless": site.add_stream("/endless.html", repeated(block, None)),
        "drip": site.add_stream("/drip.html", drip),
        "gzip-bomb": site.add(
            "/bomb.html",
            gzip_bomb(200 * 1024 * 1024),
            headers={"Content-Encoding": "gzip"},
            conditional=False,
        ),
        "redirect-loop": site.add(
            "/loop-a.html", b"", headers={"Location": site.url("/loop-b.html")}, **redirect
        ),
        "silent": silent.url("/silent.html"),
    }
    site.add("/loop-b.html", b"", headers={"Location": site.url("/loop-a.html")}, **redirect)
    listed = [*hostile_pages.values(), site.url(ok_pages["pages"])]
    feeds["pages"] = site.add("/feeds/pages.xml", rss("pages", listed), content_type=RSS)
    items = b"<item><title>x</title></item>" * 2048
    feeds["huge-feed"] = site.add_stream(
        "/feeds/huge.xml", repeated(b"<rss><channel>" + items, TWO_GB), content_type=RSS
    )
    feeds["endless-feed"] = site.add_stream(
        "/feeds/endless.xml", repeated(items, None), content_type=RSS
    )
    feeds["silent-feed"] = silent.url("/feed.xml")
    feeds["loop-feed"] = site.add(
        "/feeds/loop.xml",
        b"",
        status=301,
        headers={"Location": site.url("/feeds/loop.xml")},
        conditional=False,
    )
    index = site.add(
        "/sitemap-index.xml", fixture(site, "sitemap-index.xml"), content_type="application/xml"
    )
    sources = {name: {"feeds": [url]} for name, url in feeds.items()}
    sources["sitemap"] = {"sitemaps": [index]}
    ok = {name: site.url(path) for name, path in ok_pages.items()}
    return HostileSite(site, silent, secret, token, sources, ok, hostile_pages)


# Per source: (status, stored articles, pages failed, what its recorded errors must say).
EXPECTED: dict[str, tuple[str, int, int, list[str]]] = {
    "control": ("ok", 1, 0, []),
    # Entities are not expanded (expat refuses the expansion, the loose parser keeps the
    # text): the entry is read and its page stored.
    "laughs": ("ok", 1, 0, []),
    "xxe-file": ("ok", 1, 0, []),
    "xxe-dtd": ("ok", 1, 0, []),
    "bad-links": (
        "ok",
        1,
        3,
        ["not an http(s) URL: 'file:", "not an http(s) URL: 'data:", "not an http(s) URL: 'javas"],
    ),
    "pages": (
        "ok",
        1,
        7,
        [
            "huge-declared.html: response larger than [fetch] max_page_bytes (1048576 bytes): "
            f"{TWO_GB} bytes announced",
            "huge-chunked.html: response larger than [fetch] max_page_bytes: cut off",
            "endless.html: response larger than [fetch] max_page_bytes: cut off",
            "drip.html: timed out",
            "bomb.html: response larger than [fetch] max_page_bytes (1048576 bytes) once "
            "decompressed",
            "loop-b.html: max redirections reached",
            "silent.html: timed out",
        ],
    ),
    "huge-feed": ("failed", 0, 0, ["huge.xml: response larger than [fetch] max_page_bytes"]),
    "endless-feed": ("failed", 0, 0, ["endless.xml: response larger than [fetch] max_page"]),
    "silent-feed": ("failed", 0, 0, ["feed.xml: timed out"]),
    "loop-feed": ("failed", 0, 0, ["loop.xml: max redirections reached"]),
    "sitemap": (
        "failed",
        0,
        0,
        [
            "refused 'file:///etc/hostname': only http(s) is fetched",
            "refused 'data:text/xml,%3Curlset%3E%3C/urlset%3E': only http(s) is fetched",
        ],
    ),
}


def test_hostile_input_is_bounded_and_the_crawl_goes_on(tmp_path: Path) -> None:
    """Every hostile case ends in one logged reason within the timeout and the size cap; the
    ordinary entries beside them, and the control source, are stored; no local file's content
    reaches the database; the crawler's peak RSS stays under 400 MiB and the test server's
    own memory does not grow by the 2 GB it streamed.
    """
    hwm_before = _vm_hwm_mib()
    with LocalSite() as site, SilentServer() as silent:
        hostile = build_site(site, silent, tmp_path)
        database = tmp_path / "newsrelay.db"
        config = tmp_path / "newsrelay.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{database}"\n\n[fetch]\n'
            f"allow_private_networks = true\ntimeout = {TIMEOUT}\nretries = 0\n"
            f"max_page_bytes = {MAX_PAGE_BYTES}\nparallel_sources = 12\n\n"
            + sources_toml(hostile.sources),
            encoding="utf-8",
        )

        run = run_measured(config, "--log-format", "json", "crawl", "--all")

        requested = {r.path for r in site.requests}
        streamed = dict(site.streamed)
        accepted = silent.accepted
    server_growth = _vm_hwm_mib() - hwm_before
    print(
        f"hostile crawl: peak RSS {run.peak_rss_mib:.0f} MiB, {run.seconds:.1f} s; "
        f"test server grew {server_growth:.0f} MiB; streamed {streamed}"
    )

    assert "Traceback" not in run.stderr, run.stderr
    logs = json_logs(run.stderr)
    assert run.returncode == 1, run.stdout  # the failed sources fail the exit code
    assert run.peak_rss_mib < PEAK_RSS_LIMIT_MIB
    assert run.seconds < WALL_LIMIT_S
    # The server streamed lazily and the client hung up early: far from 2 GB either way.
    assert server_growth < 100
    assert set(streamed) == {
        "/huge-declared.html", "/huge-chunked.html", "/endless.html", "/drip.html",
        "/feeds/huge.xml", "/feeds/endless.xml",
    }  # fmt: skip
    assert all(sent < 64 * 1024 * 1024 for sent in streamed.values()), streamed
    assert accepted >= 2  # the silent server was reached, for the feed and for the page

    with sqlite3.connect(database) as conn:
        runs = {
            name: (status, new, pages_failed, error or "")
            for name, status, new, pages_failed, error in conn.execute(
                "SELECT s.name, r.status, r.new, r.pages_failed, r.error "
                "FROM crawl_runs r JOIN sources s ON s.id = r.source_id"
            )
        }
        stored = {url for (url,) in conn.execute("SELECT url FROM article_urls")}
        dump = "\n".join(conn.iterdump())
    assert set(runs) == set(EXPECTED)
    for name, (status, new, pages_failed, reasons) in EXPECTED.items():
        got_status, got_new, got_failed, error = runs[name]
        assert (got_status, got_new, got_failed) == (status, new, pages_failed), (name, error)
        for reason in reasons:
            assert reason in error, (name, reason, error)
    assert stored == set(hostile.ok_pages.values())

    # External entities: the secret was never read into anything stored, the DTDs never
    # fetched; the billion laughs were never expanded into the database.
    assert hostile.token not in dump
    assert not requested & {"/evil.dtd", "/evil-entities.dtd"}
    assert "lollollol" not in dump
    assert database.stat().st_size < 2 * 1024 * 1024

    # One line per failure: each hostile page is named by exactly one record besides the
    # source's summary (which repeats the first reason).
    for case, url in hostile.hostile_pages.items():
        url = url.replace("loop-a", "loop-b")  # the loop is reported where it gave up
        lines = [r for r in logs if url in r["msg"] and r["logger"] != "crawler.crawls"]
        assert len(lines) == 1, (case, lines)
    assert all(r["level"] != "error" for r in logs), [r for r in logs if r["level"] == "error"]


def _vm_hwm_mib() -> float:
    """This process's peak RSS (the test server runs in it), MiB."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0
