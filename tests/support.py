"""Helpers that several test modules share: where things are, running the real ``newsrelay``
command, configs, PostgreSQL schemas, pages and feeds to serve, and reading what a crawl did.

Fixtures stay in ``conftest.py``; the local HTTP server is ``tests.localsite``.
"""

from __future__ import annotations

import csv
import json
import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

import pytest

from tests.localsite import LocalSite, wait_until

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus" / "feeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NEWSRELAY = Path(sys.executable).parent / "newsrelay"
SCRAPY = Path(sys.executable).parent / "scrapy"
POSTGRES_URL = os.environ.get(
    "NEWSRELAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"

PEAK_RSS_LIMIT_MIB = 400


# -- servers the tests start ----------------------------------------------------------------
class Serving:
    """A threading socketserver on loopback, answering from a daemon thread inside a
    ``with`` block (the webhook receiver, the HTTP and SOCKS5 proxies)."""

    _server: Any  # a socketserver.ThreadingMixIn server
    _thread: threading.Thread

    def _serve(self, server: Any) -> None:
        server.daemon_threads = True
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


# -- running newsrelay ----------------------------------------------------------------------
@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_newsrelay(*args: str, config: Path | None = None, timeout: float = 120) -> Result:
    """Run the installed ``newsrelay`` command for real, as an editor would."""
    command = [str(NEWSRELAY)]
    if config is not None:
        command += ["--config", str(config)]
    command += list(args)
    env = {**os.environ, "COLUMNS": "200"}
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=timeout, env=env, check=False
    )
    return Result(done.returncode, done.stdout, done.stderr)


def run_scrapy(
    config: Path, source: str, spider: str = "feeds", cache: Path | None = None
) -> Result:
    """``scrapy crawl SPIDER -a source=SOURCE`` in the repository, as a Scrapy user runs it,
    with ``config``; with ``cache``, through Scrapy's HTTP cache there (404s not cached)."""
    command = [str(SCRAPY), "crawl", spider, "-a", f"source={source}"]
    if cache is not None:
        for setting in ("HTTPCACHE_ENABLED=True", f"HTTPCACHE_DIR={cache}",
                        "HTTPCACHE_IGNORE_HTTP_CODES=404"):  # fmt: skip
            command += ["-s", setting]
    done = subprocess.run(
        command,
        cwd=REPO,
        env={**os.environ, "NEWSRELAY_CONFIG": str(config)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def write_config(
    path: Path, db_url: str, sources: str, *, allow_private: bool = True, http: str = 'listen = ""'
) -> Path:
    """A newsrelay.toml for a test: ``sources`` is the TOML of the [[sources]] tables;
    ``http`` the body of [http] (by default no console: daemons of tests running side by side
    would all want 127.0.0.1:8080)."""
    path.write_text(
        f'[database]\nurl = "{db_url}"\n\n'
        f"[fetch]\nallow_private_networks = {'true' if allow_private else 'false'}\n"
        "timeout = 10\nretries = 0\n\n"
        f"[http]\n{http}\n\n" + sources,
        encoding="utf-8",
    )
    return path


@dataclass(frozen=True)
class Measured:
    returncode: int
    stdout: str
    stderr: str
    peak_rss_mib: float
    seconds: float


def run_measured(config: Path, *args: str, timeout: float = 120) -> Measured:
    """Run ``newsrelay`` and return its output, its own peak RSS and its wall time."""
    out, err = config.with_suffix(".out"), config.with_suffix(".err")
    command = [str(NEWSRELAY), "--config", str(config), *args]
    started = time.monotonic()
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(command, stdout=stdout, stderr=stderr)
        killer = threading.Timer(timeout, process.kill)
        killer.start()
        try:
            _, status, usage = os.wait4(process.pid, 0)
        finally:
            killer.cancel()
        process.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.monotonic() - started
    if process.returncode == -signal.SIGKILL:
        pytest.fail(f"newsrelay {' '.join(args)} was killed after {timeout} s")
    # ru_maxrss is in KiB on Linux.
    return Measured(
        process.returncode,
        out.read_text(encoding="utf-8"),
        err.read_text(encoding="utf-8"),
        usage.ru_maxrss / 1024,
        seconds,
    )


# -- PostgreSQL ------------------------------------------------------------------------------
def _postgres_problem() -> str | None:
    """Why PostgreSQL cannot be used here, or None when it can."""
    try:
        import psycopg
    except ImportError as exc:
        return f"psycopg not installed: {exc}"
    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    try:
        with psycopg.connect(dsn, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return f"PostgreSQL at {POSTGRES_URL} unreachable: {str(exc).strip().splitlines()[0]}"


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A URL to a new, empty schema of the test database, dropped afterwards.

    Each test gets its own schema (through ``search_path``), so test runs that share the
    server, or a test's own newsrelay subprocesses, never see each other's tables.
    """
    import psycopg

    dsn = POSTGRES_URL.replace("postgresql+psycopg://", "postgresql://")
    schema = f"newsrelay_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{schema}"
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def require(problem: str | None) -> None:
    """A service or package a test needs is missing (``problem`` says which): skip the test
    locally, fail it under CI=true, where everything is installed."""
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)


def require_postgres() -> None:
    """Skip the test when PostgreSQL is unreachable; fail it instead when CI=true."""
    require(_postgres_problem())


def free_port() -> int:
    """A loopback TCP port nobody listens on (now)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def answers(base: str) -> bool:
    """Whether an HTTP server (the console) answers at ``base`` yet."""
    import httpx

    try:
        return httpx.get(base + "/healthz", timeout=2).status_code in (200, 503)
    except httpx.HTTPError:
        return False


# -- reading what a crawl did ---------------------------------------------------------------
def summary(stdout: str) -> dict[str, dict[str, Any]]:
    """The rows of ``newsrelay crawl --json``, by source. Each row gets a "why" as well: its
    reasons as the human table's "why" column shows them (the first three, then how many more).
    """
    rows: dict[str, dict[str, Any]] = {}
    for row in json.loads(stdout)["sources"]:
        reasons = row["reasons"]
        more = f" (+{len(reasons) - 3} more)" if len(reasons) > 3 else ""
        rows[row["source"]] = {**row, "why": "; ".join(reasons[:3]) + more}
    return rows


def export(config: Path) -> list[dict[str, Any]]:
    """Every stored article, through ``newsrelay export --format jsonl`` on stdout."""
    result = run_newsrelay("export", "--format", "jsonl", config=config)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def urlpath(request_target: str) -> str:
    """The path of a request target, without its query."""
    return request_target.split("?", 1)[0]


def by_url(articles: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Articles keyed by each of their addresses (an article appears under each alias)."""
    return {url: article for article in articles for url in article["urls"]}


def json_logs(stderr: str) -> list[dict[str, Any]]:
    """Every stderr line as JSON (``--log-format json``): a line that is not fails the test."""
    return [json.loads(line) for line in stderr.splitlines() if line.strip()]


# -- pages and feeds to serve ---------------------------------------------------------------
# 64 made-up words: random sentences of them share next to no word 3-grams.
_MADE_UP_WORDS = tuple(
    head + tail
    for head in ("ka", "lo", "mi", "nu", "pe", "ro", "su", "ti")
    for tail in ("ran", "del", "mos", "vek", "zul", "bon", "tar", "lis")
)
_NEWSROOM_WORDS = (  # noqa: SIM905 - a sentence of words reads better than a list
    "harbour council budget river minister rail tunnel school hospital drought "
    "farmers election court museum festival bridge vaccine airport strike coast storm "
    "energy grid wheat export bank currency port ferry library reform police market "
    "village"
).split()


def article_html(n: int) -> str:
    """An article page whose text shares no sentence with any other ``n``: each page is a
    story of its own, never a duplicate of another."""
    rng = random.Random(n)
    paragraphs = "\n".join(
        "<p>" + " ".join(rng.choice(_MADE_UP_WORDS) for _ in range(36)).capitalize() + ".</p>"
        for _ in range(5)
    )
    return (
        f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Story number {n}</title></head><body>"
        f"<article><h1>Story number {n}</h1>{paragraphs}</article></body></html>"
    )


def newsroom(
    site: LocalSite, name: str, stories: int, *, thin: bool = False, delay: float = 0.0
) -> str:
    """An RSS feed of ``stories`` article pages under ``/<name>/``; returns the feed's URL.

    Each story has its own text (seeded by name and number). ``thin`` pages carry no article
    text, only site chrome, as after a redesign; the feed's description still has a summary.
    ``delay``: seconds each page takes to answer.
    """
    items = []
    for number in range(stories):
        rng = random.Random(f"{name}-{number}")
        title = f"{name} story {number}: {' '.join(rng.sample(_NEWSROOM_WORDS, 4))}"
        paragraphs = [
            " ".join(rng.choice(_NEWSROOM_WORDS) for _ in range(60)).capitalize() + "."
            for _ in range(4)
        ]
        body = "" if thin else "".join(f"<p>{p}</p>" for p in paragraphs)
        path = f"/{name}/news/{number}.html"
        site.add(
            path,
            f"<html><head><title>{title}</title></head><body><nav>Home | World | Sport</nav>"
            f"<article><h1>{title}</h1>{body}</article><footer>Contact us</footer></body></html>",
            delay=delay,
        )
        items.append(
            f"<item><title>{title}</title><link>{site.url(path)}</link>"
            f"<guid>{name}-{number}</guid><description>{paragraphs[0]}</description>"
            "<pubDate>Wed, 25 Nov 2026 10:00:00 GMT</pubDate></item>"
        )
    feed = (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{name}</title><link>{site.base}</link>{''.join(items)}</channel></rss>"
    )
    return site.add(f"/{name}/feed.xml", feed, content_type="application/rss+xml")


def rss_of(site: LocalSite, paths: list[str]) -> str:
    """An RSS 2.0 feed whose items link to ``paths`` on ``site`` (GUID: the path)."""
    items = "".join(
        f"<item><title>Story {n}</title><link>{site.url(p)}</link><guid>{p}</guid></item>"
        for n, p in enumerate(paths)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )


def corpus_feeds() -> list[tuple[str, str]]:
    """(path, declared format) of every feed document in the corpus (JSON fixtures left out)."""
    manifest = CORPUS / "MANIFEST.tsv"
    if not manifest.exists():
        pytest.fail(f"the test corpus is missing: {manifest}")
    with manifest.open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    return [(r["file"], r["format"]) for r in rows if r["format"] != "json"]


# -- the daemon ------------------------------------------------------------------------------
def source_toml(name: str, feed: str, schedule: str = 'interval = "1s"') -> str:
    return f'[[sources]]\nname = "{name}"\nfeeds = ["{feed}"]\n{schedule}\n\n'


def daemon_config(
    path: Path, db_url: str, sources: str, *, http: str = 'listen = ""', **daemon: str
) -> Path:
    settings = {"heartbeat": '"1s"', "stop_timeout": '"10s"', "jitter": "0.0", **daemon}
    table = "[daemon]\n" + "".join(f"{key} = {value}\n" for key, value in settings.items())
    return write_config(path, db_url, table + "\n" + sources, http=http)


class DaemonProcess:
    """``newsrelay --log-format json run`` in the background, its log in a file."""

    def __init__(self, config: Path, *args: str, command: str = "run") -> None:
        self.log_path = config.with_suffix(f".{time.monotonic_ns()}.log")
        self._log = self.log_path.open("wb")
        argv = [str(NEWSRELAY), "--config", str(config), "--log-format", "json", command, *args]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=self._log,
            start_new_session=True,  # its own process group, as under systemd
        )

    def records(self) -> list[dict[str, Any]]:
        """Every log line so far, parsed: a line that is not JSON fails the test."""
        text = self.log_path.read_text(encoding="utf-8")
        complete = text[: text.rfind("\n") + 1]  # a line still being written waits
        return [json.loads(line) for line in complete.splitlines() if line.strip()]

    def summaries(self, source: str | None = None) -> list[dict[str, Any]]:
        return [
            r
            for r in self.records()
            if r["msg"].startswith("crawl ") and "run_id" in r
            if source is None or r["source"] == source
        ]

    def wait_for(self, predicate: Any, timeout: float = 30.0) -> None:
        if not wait_until(predicate, timeout=timeout, interval=0.2):
            raise AssertionError(f"timed out; log so far:\n{self.log_path.read_text()[-4000:]}")

    def signal(self, signum: int) -> None:
        self.process.send_signal(signum)

    def stop(self, timeout: float = 20.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        finally:
            self._log.close()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._log.close()
