"""A generated news site that keeps publishing: the outlets of ``layout.py``, served on loopback.

``LiveSite`` starts each outlet with some of the stories ``layout.build`` laid out and queues
the rest per section. Every tick it publishes the next story of every section of every outlet,
dated now: its page appears, and it is listed in its section's feed and in the outlet's "top"
feed, sometimes also in a sibling section's feed or in another outlet's feed (syndication), and
about as often with a tracking query as ``layout.py``'s feeds. Only the feeds whose entries
changed are rendered again, so the others keep their ETag and answer 304 to a conditional poll.
Feeds keep a window of their newest entries, as real ones do, so their size does not grow.

``LiveSiteProcess`` runs it in a child process and answers "publish" (start the ticks),
"status" (ticks, stories, requests served), "freeze" (stop publishing; also lists every story
a feed has listed) and "stop". ``bench/daemon_memory.py`` uses it.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import random
import resource
import sys
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from bench import render
from bench.layout import TRACKING_QUERIES, Entry, Feed, NewsSite, SiteSpec, Story, build
from bench.newssite import loopback_hosts, stop_child
from tests.localsite import LocalSite

if TYPE_CHECKING:
    from multiprocessing.connection import Connection


TOP_ENTRIES = 25  # the "top" feed: the outlet's newest stories
SECTION_ENTRIES = 20  # a section feed: its newest stories of that section ...
EXTRA_ENTRIES = 5  # ... plus the newest stories cross-listed into it
SIBLING_SHARE = 0.15  # a new story also listed in another section feed of its outlet
SYNDICATED_SHARE = 0.10  # ... and in a feed of another outlet (a syndicated copy)


class LiveSite:
    """The generated outlets, served by ``LocalSite``s, publishing new stories on ``tick()``.

    Stories come from ``layout.build``: each outlet starts with ``initial`` of them (with the
    dates the layout gave them) and queues the rest per section. A tick publishes the next
    story of every section of every outlet, dated now, then re-renders only the feeds whose
    entries changed, so that the others keep their ETag. Feeds keep a window of their newest
    entries, as real ones do, so their size does not grow with time.
    """

    def __init__(self, news: NewsSite, initial: int, sites: list[LocalSite]) -> None:
        self.news = news
        self.seed = news.spec.seed
        self.sites = sites
        self.feeds = {o.index: [f for f in news.feeds if f.outlet is o] for o in news.outlets}
        self.extras: dict[int, list[Story]] = {id(f): [] for f in news.feeds}
        self.links: dict[tuple[int, str, int], str] = {}
        self.kinds: dict[tuple[int, str], str] = {}
        self.published: list[Story] = []  # pages served
        self.listed: dict[int, Story] = {}  # stories some feed has listed (the crawlable ones)
        self.queues: dict[tuple[int, str], list[Story]] = {}
        self.ticks = 0
        self.missed = 0  # stories a tick could not publish: a section's queue ran out
        self.counts: Counter[str] = Counter()
        self.article_pages: set[tuple[int, str]] = set()
        changed: set[int] = set()
        for outlet in news.outlets:
            stories = outlet.stories  # newest first
            outlet.stories = []
            for story in stories[initial:]:  # popped from the end: the oldest first
                self.queues.setdefault((outlet.index, story.section), []).append(story)
            for story in reversed(stories[:initial]):
                changed |= self._publish(story, fresh=False)
            site = sites[outlet.index]
            site.add("/robots.txt", render.robots(outlet), content_type="text/plain")
            self.kinds[(outlet.index, "/robots.txt")] = "robots"
            self.kinds[(outlet.index, "/")] = "home"
            for feed in self.feeds[outlet.index]:
                self.kinds[(outlet.index, feed.path)] = "feed"
        self._render(changed, every_home=True)

    def tick(self) -> None:
        """Publish one story in every section of every outlet."""
        changed: set[int] = set()
        for outlet in self.news.outlets:
            for section in outlet.sections[1:] or outlet.sections:
                queue = self.queues.get((outlet.index, section))
                if queue:
                    changed |= self._publish(queue.pop(), fresh=True)
                else:
                    self.missed += 1
        self.ticks += 1
        self._render(changed)

    def _publish(self, story: Story, fresh: bool) -> set[int]:
        """Serve ``story``'s page and list it; the ids of the feeds that changed."""
        outlet = story.outlet
        if fresh:
            story.published = datetime.now(UTC).replace(microsecond=0)
        outlet.stories.insert(0, story)
        self.sites[outlet.index].add(story.path, render.article(story, self.seed), gzip=outlet.gzip)
        self.kinds[(outlet.index, story.path)] = "article"
        self.published.append(story)
        feeds = self.feeds[outlet.index]
        own = [f for f in feeds if f.section in ("top", story.section)]
        changed = {id(f) for f in own}
        rng = random.Random(f"{self.seed}/{story.id}/live")
        siblings = [f for f in feeds if f not in own]
        if siblings and rng.random() < SIBLING_SHARE:
            changed.add(self._cross_list(story, rng.choice(siblings)))
        others = [o for o in self.news.outlets if o is not outlet]
        if others and rng.random() < SYNDICATED_SHARE:
            changed.add(self._cross_list(story, rng.choice(self.feeds[rng.choice(others).index])))
        return changed

    def _cross_list(self, story: Story, feed: Feed) -> int:
        extras = self.extras[id(feed)]
        extras.insert(0, story)
        del extras[EXTRA_ENTRIES:]
        return id(feed)

    def _render(self, changed: set[int], every_home: bool = False) -> None:
        for outlet in self.news.outlets:
            feeds = self.feeds[outlet.index]
            touched = [f for f in feeds if id(f) in changed]
            for feed in touched:
                feed.entries = [Entry(s, self._link(feed, s)) for s in self._listed(feed)]
                self.listed.update((entry.story.id, entry.story) for entry in feed.entries)
                body, content_type = render.feed(feed, self.seed)
                self.sites[outlet.index].add(
                    feed.path, body, content_type=content_type, gzip=outlet.gzip
                )
            if touched or every_home:
                home = render.home(outlet, feeds)
                self.sites[outlet.index].add("/", home, gzip=outlet.gzip)

    def _listed(self, feed: Feed) -> list[Story]:
        stories = feed.outlet.stories
        if feed.section == "top" and len(feed.outlet.sections) > 1:
            return stories[:TOP_ENTRIES]
        own = [s for s in stories if s.section == feed.section][:SECTION_ENTRIES]
        listed = set(own) | set(self.extras[id(feed)])
        return sorted(listed, key=lambda s: (s.published, s.id), reverse=True)

    def _link(self, feed: Feed, story: Story) -> str:
        """The entry's link: sometimes with a tracking query, the same on every render."""
        key = (feed.outlet.index, feed.path, story.id)
        if key not in self.links:
            rng = random.Random(f"{self.seed}/{feed.outlet.index}{feed.path}/{story.id}")
            lister = feed.outlet
            link = story.url
            if rng.random() < lister.tracking:
                query = rng.choice(TRACKING_QUERIES)
                link += query.format(section=feed.section, outlet=lister.slug)
            self.links[key] = link
        return self.links[key]

    def drain_requests(self) -> None:
        """Count the requests served since the last call (and forget them)."""
        for index, site in enumerate(self.sites):
            count = len(site.requests)
            served = site.requests[:count]
            del site.requests[:count]  # appends only ever go to the end
            for request in served:
                path = urlsplit(request.path).path
                kind = self.kinds.get((index, path), "missing")
                conditional = "if-none-match" in request.headers
                self.counts[f"{kind}_requests"] += 1
                self.counts[f"{kind}_{request.status}"] += 1
                if kind == "feed" and conditional:
                    self.counts["feed_conditional"] += 1
                if kind == "article":
                    self.article_pages.add((index, path))
                    if "?" in request.path:
                        self.counts["article_with_query"] += 1

    def status(self) -> dict[str, Any]:
        self.drain_requests()
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return {
            "ticks": self.ticks,
            "published": len(self.published),
            "listed": len(self.listed),
            "missed": self.missed,
            "requests": dict(self.counts),
            "article_pages": len(self.article_pages),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        }


def _serve_live(
    spec: SiteSpec, initial: int, publish_every: float, conn: Connection, log: Path
) -> None:
    """Child process: serve and publish; answer "publish", "status", "freeze" and "stop"."""
    sys.stderr = log.open("a", encoding="utf-8", buffering=1)  # e.g. connections reset
    sites: list[LocalSite] = []
    try:
        sites = [LocalSite(host) for host in loopback_hosts(spec.outlets)]
        news = build(replace(spec.resolved(), bases=tuple(s.base for s in sites)))
        live = LiveSite(news, initial, sites)
        for site in sites:
            site.start()
    except Exception as exc:
        conn.send(("error", repr(exc)))
        for site in sites:
            with contextlib.suppress(Exception):
                site.stop()
        return
    summary = {
        "outlets": len(news.outlets),
        "feeds": len(news.feeds),
        "sections_per_outlet": [len(o.sections[1:] or o.sections) for o in news.outlets],
        "initial_stories": len(live.published),
        "queued_stories": sum(len(q) for q in live.queues.values()),
        "bases": [s.base for s in sites],
        "feed_urls": {o.slug: [f.url for f in live.feeds[o.index]] for o in news.outlets},
    }
    conn.send(("ready", summary))
    next_tick: float | None = None
    try:
        while True:
            timeout = None if next_tick is None else max(0.0, next_tick - time.monotonic())
            try:
                if not conn.poll(timeout):
                    live.tick()
                    assert next_tick is not None
                    next_tick += publish_every
                    continue
                command = conn.recv()
            except EOFError:  # the parent is gone
                break
            if command == "stop":
                break
            if command == "publish":
                next_tick = time.monotonic() + publish_every
            elif command == "freeze":
                next_tick = None
            reply = live.status()
            if command == "freeze":
                # Only what a feed listed can be crawled: an initial story beyond its
                # section feed's window (and not among the top feed's) is a page and no more.
                reply["stories"] = [(s.id, s.outlet.slug, s.url) for s in live.listed.values()]
            conn.send(reply)
    finally:
        for site in sites:
            site.stop()


class LiveSiteProcess:
    """The changing site in a child process, so it does not share a core's GIL with us."""

    def __init__(self, spec: SiteSpec, initial: int, publish_every: float, log: Path) -> None:
        self.spec, self.initial, self.publish_every, self.log = spec, initial, publish_every, log
        self.summary: dict[str, Any] = {}
        self._process: multiprocessing.process.BaseProcess | None = None
        self._conn: Connection | None = None

    def __enter__(self) -> LiveSiteProcess:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        args = (self.spec, self.initial, self.publish_every, child, self.log)
        self._process = ctx.Process(target=_serve_live, args=args, daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(120):
            self.__exit__()
            raise RuntimeError("the site did not start within 120 s")
        try:
            reply = self._conn.recv()
        except EOFError:
            reply = ("error", f"the site process died (see {self.log})")
        if reply[0] != "ready":
            self.__exit__()
            raise RuntimeError(f"the site failed to start: {reply[1]}")
        self.summary = reply[1]
        return self

    def ask(self, command: str, timeout: float = 30.0) -> dict[str, Any]:
        assert self._conn is not None
        self._conn.send(command)
        if not self._conn.poll(timeout):
            raise RuntimeError(f"the site did not answer {command!r}")
        answer: dict[str, Any] = self._conn.recv()
        return answer

    def __exit__(self, *exc: object) -> None:
        stop_child(self._conn, self._process)
        self._conn, self._process = None, None
