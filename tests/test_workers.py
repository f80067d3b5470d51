"""The extraction workers: real processes (a zygote and its workers) on real pages.

Each case runs in a fresh interpreter, as the crawler does, so that what it imported can be
checked: the crawler process must never import the extraction stack itself.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.localsite import LocalSite
from tests.support import FIXTURES, run_newsrelay, write_config

PAGE = FIXTURES / "site" / "news" / "harbour-strike.html"
HEAVY = ("trafilatura", "numpy", "feedparser", "lxml", "htmldate", "justext", "py3langid")

SCRIPT = """
import asyncio, json, os, signal, sys, threading, time
from crawler.processing import process_page
from crawler.workers import Pool, WorkerDied

mode, page, HEAVY = sys.argv[1], open(sys.argv[2], "rb").read(), json.loads(sys.argv[3])
if mode == "threaded":  # a process running threads must not fork: exec instead
    threading.Thread(target=time.sleep, args=(60,), daemon=True).start()
pool = Pool(2)
pool.start_now()
zygote = pool._zygote if isinstance(pool._zygote, int) else pool._zygote.pid
out = {"forked": isinstance(pool._zygote, int)}

def children(pid):
    try:
        return [int(c) for c in open(f"/proc/{pid}/task/{pid}/children").read().split()]
    except OSError:
        return []

async def run(n, start=0):
    calls = [pool.run(process_page, page, "text/html; charset=utf-8", f"http://a.example/{i}")
             for i in range(start, start + n)]
    return await asyncio.gather(*calls, return_exceptions=True)

async def main():
    if mode == "idle":
        time.sleep(0.3)
        out["workers_when_idle"] = len(children(zygote))
        return
    pages = await run(20)
    out["workers"] = len(children(zygote))
    out["heavy_here"] = [m for m in HEAVY if m in sys.modules]
    out["titles"] = sorted({p.extracted.title for p in pages})
    out["same_as_inline"] = None
    if mode == "crash":
        for victim in children(zygote):
            os.kill(victim, signal.SIGKILL)
            time.sleep(0.2)
            results = await run(10, 100)
            out.setdefault("after_kill", []).append(
                sorted({type(r).__name__ for r in results}))
        out["replaced"] = pool.replaced
        out["workers_after"] = len(children(zygote))
        out["heavy_after"] = [m for m in HEAVY if m in sys.modules]
    out["pages"] = pages

asyncio.run(main())
pages = out.pop("pages", None)
if pages:
    inline = process_page(page, "text/html; charset=utf-8", "http://a.example/0")
    out["same_as_inline"] = pages[0] == inline
pool.shutdown()
out["zygote_left"] = os.path.exists(f"/proc/{zygote}") and \\
    open(f"/proc/{zygote}/stat").read().split()[2] != "Z"
print(json.dumps(out))
"""


def run_script(mode: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, mode, str(PAGE), json.dumps(HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    result["stderr"] = done.stderr
    return result


def test_workers_extract_what_inline_extracts_and_the_crawler_imports_none_of_it() -> None:
    """Twenty pages through two forked workers: each result equals the inline extraction,
    and the process that asked never imported trafilatura, lxml, numpy or feedparser."""
    out = run_script("forked")
    assert out["forked"] is True
    assert out["workers"] == 2
    assert out["heavy_here"] == []
    assert len(out["titles"]) == 1 and "harbour" in str(out["titles"][0]).lower()  # type: ignore[index]
    assert out["same_as_inline"] is True
    assert out["zygote_left"] is False


def test_a_threaded_process_gets_its_workers_by_exec() -> None:
    """With another thread running, forking is unsafe: the zygote is a fresh interpreter,
    and the pages come out the same."""
    out = run_script("threaded")
    assert out["forked"] is False
    assert out["workers"] == 2
    assert out["heavy_here"] == []
    assert out["same_as_inline"] is True
    assert out["zygote_left"] is False


def test_no_work_no_workers() -> None:
    """Until work comes, the zygote imports nothing and forks nobody; it leaves at shutdown."""
    out = run_script("idle")
    assert out["workers_when_idle"] == 0
    assert out["zygote_left"] is False


def test_killed_workers_are_replaced_and_the_crawler_never_extracts_itself() -> None:
    """SIGKILL each worker in turn while idle: the work sent to the dead one goes to the
    others, a replacement is forked, and the asking process still imports nothing heavy.
    (A worker killed in the middle of a page fails that page: see test_faults.py.)"""
    out = run_script("crash")
    assert out["after_kill"] == [["Page"], ["Page"]]
    assert out["replaced"] == 2
    assert out["workers_after"] == 2
    assert out["heavy_after"] == []
    assert str(out["stderr"]).count("extraction workers replaced: 2 now running") == 2


def test_an_unchanged_repoll_starts_no_workers(site: LocalSite, tmp_path: Path) -> None:
    """A first crawl starts the extraction workers; a re-poll where the feed answers 304
    does not even have them import anything (it is most polls of a daemon's life)."""
    page = site.add("/news/1.html", PAGE.read_bytes(), content_type="text/html; charset=utf-8")
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        f"<item><title>One</title><link>{page}</link><guid>1</guid></item></channel></rss>"
    )
    site.add("/feed.xml", feed, content_type="application/rss+xml")
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'newsrelay.db'}",
        f'[[sources]]\nname = "one"\nfeeds = ["{site.url("/feed.xml")}"]\n',
    )

    first = run_newsrelay("--log-level", "debug", "crawl", "one", config=config)
    again = run_newsrelay("--log-level", "debug", "crawl", "one", config=config)

    assert first.returncode == again.returncode == 0, first.stderr + again.stderr
    # A clean site, a clean log: nothing at WARNING or above from newsrelay or Scrapy.
    for line in (first.stderr + again.stderr).splitlines():
        assert not any(f" {level} " in line for level in ("WARNING", "ERROR", "CRITICAL")), line
    assert "extraction workers starting: " in first.stderr
    assert [r.status for r in site.hits("/feed.xml")] == [200, 304]
    assert len(site.hits("/news/1.html")) == 1
    assert "extraction workers starting" not in again.stderr
