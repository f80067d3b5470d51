"""N one-feed sources on loopback, served fast from a child process, for ``scale_bench.py``.

Each source has one small RSS feed of ``ARTICLES`` entries, each linking to an article page on
the same host. Sources are spread over many loopback addresses (``SOURCES_PER_HOST`` each, one
port per address), so that nothing keyed by host serializes them. Every answer carries an ETag
and a Last-Modified header, and a conditional request (``If-None-Match`` or
``If-Modified-Since``) is answered 304: after the first crawl every poll is unchanged.

The server is a bare asyncio protocol (HTTP/1.1 keep-alive, GET and HEAD, answers prepared
up front), not ``tests/localsite.py``'s thread per connection: at hundreds of polls a second
the site must cost far less than the daemon it serves, on the same two cores. It runs in its
own process so that its CPU is not counted with the daemon's; ``report`` returns the requests
it answered by kind and status, and its CPU time.
"""

from __future__ import annotations

import asyncio
import email.utils
import hashlib
import multiprocessing
import random
import resource
import sys
from collections import Counter
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.newssite import loopback_hosts, stop_child

if TYPE_CHECKING:
    from multiprocessing.connection import Connection

ARTICLES = 3  # entries per feed, each an article page
SOURCES_PER_HOST = 50
LAST_MODIFIED = email.utils.formatdate(1_767_225_600, usegmt=True)  # 2026-01-01, fixed
VOCABULARY = (
    "harbour council minister budget river storm vote court market bridge festival school "
    "railway hospital farmers election museum police energy summit drought port treaty "
    "strike airline stadium ferry mayor protest reform tariff village coast mine grain"
)
WORDS = VOCABULARY.split()
ROBOTS = b"User-agent: *\nAllow: /\n"


def source_name(index: int) -> str:
    return f"s{index:05d}"


def _paragraphs(seed: str, count: int) -> list[str]:
    """Sentences of words picked by ``seed``: every article's text its own (no duplicates)."""
    rng = random.Random(seed)
    out = []
    for _ in range(count):
        sentences = [
            " ".join(rng.choice(WORDS) for _ in range(rng.randint(9, 16))).capitalize() + "."
            for _ in range(4)
        ]
        out.append(" ".join(sentences))
    return out


def article_page(name: str, number: int) -> bytes:
    title = f"{name} story {number}: " + " ".join(
        _paragraphs(f"{name}/{number}/t", 1)[0].split()[:6]
    )
    body = "".join(f"<p>{p}</p>\n" for p in _paragraphs(f"{name}/{number}", 5))
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
        f'<meta name="author" content="Desk {number}"></head><body>'
        f"<nav><a href='/'>Home</a></nav><article><h1>{title}</h1>"
        f"<time datetime='2026-01-01T0{number}:00:00Z'>1 January 2026</time>\n{body}"
        "</article><footer>Local bench site</footer></body></html>"
    ).encode()


def feed(base: str, name: str) -> bytes:
    items = "".join(
        f"<item><title>{name} story {n}</title><link>{base}/{name}/{n}.html</link>"
        f"<guid>{base}/{name}/{n}.html</guid>"
        f"<pubDate>Thu, 01 Jan 2026 0{n}:00:00 +0000</pubDate>"
        f"<description>Story {n} of {name}.</description></item>"
        for n in range(1, ARTICLES + 1)
    )
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{name}</title><link>{base}/</link><description>{name}</description>"
        f"{items}</channel></rss>"
    ).encode()


class Answer:
    """A prepared 200 and its 304, the kind counted in the report."""

    def __init__(self, kind: str, body: bytes, content_type: str) -> None:
        self.kind = kind
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        self.etag = etag.encode()
        common = f"ETag: {etag}\r\nLast-Modified: {LAST_MODIFIED}\r\n"
        self.ok = (
            f"HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\n{common}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self.body = body
        self.not_modified = f"HTTP/1.1 304 Not Modified\r\n{common}\r\n".encode()


NOT_FOUND = (
    b"HTTP/1.1 404 Not Found\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nnot found"
)


class Served:
    """Every host's routes (path -> Answer) and the requests answered, by kind and status."""

    def __init__(self) -> None:
        self.routes: dict[str, Answer] = {}
        self.counts: Counter[str] = Counter()


class HttpProtocol(asyncio.Protocol):
    def __init__(self, served: Served) -> None:
        self.served = served
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self._answer(head)

    def _answer(self, head: bytes) -> None:
        assert self.transport is not None
        lines = head.split(b"\r\n")
        method, _, rest = lines[0].partition(b" ")
        path = rest.rpartition(b" ")[0].decode("latin-1")
        answer = self.served.routes.get(path.partition("?")[0])
        if answer is None:
            self.served.counts["missing 404"] += 1
            self.transport.write(NOT_FOUND)
            return
        conditional = False
        for line in lines[1:]:
            name, _, value = line.partition(b":")
            name = name.strip().lower()
            if name == b"if-none-match":
                conditional = answer.etag in value
                break
            if name == b"if-modified-since":
                conditional = True  # Last-Modified never changes
        if conditional:
            self.served.counts[f"{answer.kind} 304"] += 1
            self.transport.write(answer.not_modified)
        else:
            self.served.counts[f"{answer.kind} 200"] += 1
            self.transport.write(answer.ok + (answer.body if method != b"HEAD" else b""))


async def _serve(sources: int, conn: Connection) -> None:
    loop = asyncio.get_running_loop()
    hosts = loopback_hosts(max(1, -(-sources // SOURCES_PER_HOST)))
    servers, feeds, counts = [], [], Counter[str]()
    for h, host in enumerate(hosts):
        served = Served()
        served.counts = counts
        server = await loop.create_server(partial(HttpProtocol, served), host, 0, backlog=1024)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        base = f"http://{host}:{port}"
        served.routes["/robots.txt"] = Answer("robots", ROBOTS, "text/plain")
        for i in range(h * SOURCES_PER_HOST, min(sources, (h + 1) * SOURCES_PER_HOST)):
            name = source_name(i + 1)
            served.routes[f"/{name}/feed.xml"] = Answer(
                "feed", feed(base, name), "application/rss+xml"
            )
            for n in range(1, ARTICLES + 1):
                page = article_page(name, n)
                served.routes[f"/{name}/{n}.html"] = Answer(
                    "article", page, "text/html; charset=utf-8"
                )
            feeds.append((name, f"{base}/{name}/feed.xml"))
    conn.send(("ready", {"sources": feeds, "hosts": len(hosts)}))
    stopped = loop.create_future()

    def command() -> None:
        try:
            asked = conn.recv()
        except EOFError:
            asked = "stop"
        if asked == "stop":
            if not stopped.done():
                stopped.set_result(None)
            return
        usage = resource.getrusage(resource.RUSAGE_SELF)
        conn.send({"served": dict(counts), "cpu_s": round(usage.ru_utime + usage.ru_stime, 2)})

    loop.add_reader(conn.fileno(), command)
    await stopped
    loop.remove_reader(conn.fileno())
    for server in servers:
        server.close()


def _main(sources: int, conn: Connection, log: str) -> None:
    sys.stderr = Path(log).open("a", encoding="utf-8", buffering=1)  # noqa: SIM115
    try:
        asyncio.run(_serve(sources, conn))
    except Exception as exc:
        conn.send(("error", repr(exc)))


class ScaleSite:
    """The site in a child process: ``sources`` is [(name, feed URL)], ``report()`` what it
    answered so far (counts by kind and status) and its CPU time."""

    def __init__(self, sources: int, log: Path) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._conn, child = ctx.Pipe()
        self._process = ctx.Process(target=_main, args=(sources, child, str(log)), daemon=True)
        self._process.start()
        child.close()
        if not self._conn.poll(300):
            self.stop()
            raise RuntimeError("the site did not start within 300 s")
        reply = self._conn.recv()
        if reply[0] != "ready":
            self.stop()
            raise RuntimeError(f"the site failed to start: {reply[1]}")
        self.sources: list[tuple[str, str]] = reply[1]["sources"]
        self.hosts: int = reply[1]["hosts"]

    def report(self) -> dict[str, Any]:
        self._conn.send("report")
        answer: dict[str, Any] = self._conn.recv()
        return answer

    def stop(self) -> None:
        stop_child(self._conn, self._process)

    def __enter__(self) -> ScaleSite:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
