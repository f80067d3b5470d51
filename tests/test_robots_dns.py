"""Politeness across a run: robots.txt is fetched once per host (and kept an hour by the
daemon), not once per source; ``fetch.dns_timeout`` bounds the lookups the crawl really makes.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

from tests.localsite import LocalSite
from tests.support import (
    NEWSRELAY,
    DaemonProcess,
    article_html,
    daemon_config,
    require,
    rss_of,
    run_newsrelay,
    source_toml,
    summary,
    write_config,
)

RSS = "application/rss+xml"


def test_robots_txt_is_fetched_once_per_host_in_a_crawl_of_many_sources(
    site: LocalSite, tmp_path: Path
) -> None:
    site.add("/robots.txt", "User-agent: *\nDisallow: /private/\n", content_type="text/plain")
    sources = ""
    for n in range(4):
        site.add(f"/news/{n}.html", article_html(n))
        site.add(f"/feed{n}.xml", rss_of(site, [f"/news/{n}.html"]), content_type=RSS)
        sources += f'[[sources]]\nname = "s{n}"\nfeeds = ["{site.url(f"/feed{n}.xml")}"]\n\n'
    config = write_config(tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'n.db'}", sources)

    result = run_newsrelay("crawl", "--all", "--json", config=config)

    assert result.returncode == 0, result.stdout + result.stderr
    assert sum(row["new"] for row in summary(result.stdout).values()) == 4
    assert len(site.hits("/robots.txt")) == 1


def test_the_daemon_keeps_robots_txt_for_an_hour(site: LocalSite, tmp_path: Path) -> None:
    site.add("/robots.txt", "User-agent: *\nAllow: /\n", content_type="text/plain")
    site.add("/news/1.html", article_html(1))
    feed = site.add("/feed.xml", rss_of(site, ["/news/1.html"]), content_type=RSS)
    config = daemon_config(
        tmp_path / "newsrelay.toml", f"sqlite:///{tmp_path / 'n.db'}", source_toml("a", feed)
    )
    daemon = DaemonProcess(config)
    try:
        daemon.wait_for(lambda: len(daemon.summaries("a")) >= 4)
        assert daemon.stop() == 0
    finally:
        daemon.kill()
    assert len(site.hits("/feed.xml")) >= 4
    assert len(site.hits("/robots.txt")) == 1


class SilentDns:
    """A UDP server on 127.0.0.1:53 that reads queries and never answers."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 53))
        self.sock.settimeout(0.2)
        self.queries = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                self.sock.recvfrom(4096)
                self.queries += 1
            except TimeoutError:
                continue
            except OSError:
                return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sock.close()


def _dns_problem() -> str | None:
    if os.geteuid() != 0:
        return "needs root: a private mount namespace for /etc/resolv.conf and port 53"
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "unshare/mount are missing"
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", 53))
    except OSError as exc:
        return f"127.0.0.1:53 is taken: {exc}"
    finally:
        probe.close()
    return None


def test_dns_timeout_bounds_a_lookup_that_never_ends(tmp_path: Path) -> None:
    """The crawl's resolver (the guarded one, which Scrapy's DNS_TIMEOUT did not reach)
    gives up after fetch.dns_timeout: the feed fails with that reason, in time. The name
    server is a silent one on loopback, named in a private /etc/resolv.conf."""
    require(_dns_problem())
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("nameserver 127.0.0.1\n")
    config = write_config(
        tmp_path / "newsrelay.toml",
        f"sqlite:///{tmp_path / 'n.db'}",
        '[[sources]]\nname = "a"\nfeeds = ["http://feeds.newsrelay-dns.test/feed.xml"]\n',
    )
    config.write_text(config.read_text().replace("[fetch]\n", "[fetch]\ndns_timeout = 2\n"))
    script = 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"'
    command = [str(NEWSRELAY), "--config", str(config), "crawl", "a", "--json"]
    server = SilentDns()
    try:
        started = time.monotonic()
        done = subprocess.run(
            ["unshare", "--mount", "sh", "-c", script, "sh", str(resolv), *command],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
            # glibc's own patience: 30 s per query, so only the crawl's timeout can end it
            env={**os.environ, "RES_OPTIONS": "timeout:30 attempts:1"},
        )
        took = time.monotonic() - started
    finally:
        server.close()
    assert server.queries >= 1, done.stderr  # the lookup really went to the silent server
    assert done.returncode == 1, done.stdout + done.stderr
    row = summary(done.stdout)["a"]
    assert row["reasons"] == [
        "feed http://feeds.newsrelay-dns.test/feed.xml: DNS lookup timed out after 2 s"
    ], row
    assert took < 15, took
