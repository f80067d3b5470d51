"""A source's ``socks5://``, ``socks5h://`` and ``https://`` proxy: what the http:// proxy
does (``tests/test_fetch_options.py``), through the other kinds of proxy.

Real servers only: a :class:`SocksProxy` (RFC 1928/1929) and a TLS-terminating
:class:`ForwardingProxy` on loopback, started by the test, that record what they carry, a
:class:`LocalSite` that answers the guarded source only with its header and cookie, and the
real ``newsrelay`` command.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from crawler.failures import PROXY_AUTH
from tests.httpproxy import ForwardingProxy
from tests.localsite import LocalSite
from tests.socksproxy import SocksProxy
from tests.support import article_html, export, run_newsrelay, summary, write_config
from tests.test_fetch_options import (
    AGENT,
    HINT,
    KEY,
    PASSWORD,
    PUBLIC,
    REQUIRED,
    SESSION,
    guarded_toml,
    plain_toml,
    stories,
)
from tests.tls import server_context

WRONG = "wr0ng-Pa55-0c4f"
SOCKS_AUTH = "proxy: SOCKS5 wants other credentials (the source's proxy URL)"


def crawl(tmp_path: Path, sources: str, *, allow_private: bool = True) -> tuple[int, str, str]:
    config = write_config(
        tmp_path / "n.toml", f"sqlite:///{tmp_path / 'n.db'}", sources, allow_private=allow_private
    )
    result = run_newsrelay(
        "--log-format", "json", "--log-level", "debug", "crawl", "--all", "--json", config=config
    )
    return result.returncode, result.stdout, result.stderr


def test_sources_fetch_through_socks5_proxies(
    site: LocalSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``guarded`` through a SOCKS5 proxy that wants a user and password (from
    ``${PROXY_PASSWORD}``), its pages named by domain (``localhost``, resolved by the proxy),
    with its User-Agent, header and cookie; ``open`` through another, without credentials,
    by IPv4 address (``socks5h://``); ``plain`` directly; ``wrong`` with a refused password,
    ``anonymous`` with none.
    Each proxy carried every request of its source and nothing else; no secret is logged."""
    monkeypatch.setenv("PROXY_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_PASSWORD", WRONG)
    by_name = site.base.replace("127.0.0.1", "localhost")
    guarded = stories(site, "guarded", 2, seed=100, base=by_name, **REQUIRED)
    opened = stories(site, "open", 1, seed=200)
    plain = stories(site, "plain", 1, seed=300)
    wrong = stories(site, "wrong", 1, seed=400)
    anonymous = stories(site, "anonymous", 1, seed=450)
    with SocksProxy(credentials=("relay", PASSWORD)) as locked, SocksProxy() as free:
        sources = (
            guarded_toml(guarded, locked.url("socks5", "relay", "${PROXY_PASSWORD}"))
            + plain_toml("open", opened, free.url("socks5h"))
            + plain_toml("plain", plain)
            + plain_toml("wrong", wrong, locked.url("socks5", "relay", "${WRONG_PASSWORD}"))
            + plain_toml("anonymous", anonymous, locked.url("socks5"))
        )
        code, out, err = crawl(tmp_path, sources)

    rows = summary(out)
    assert code == 1, out + err[-3000:]
    assert (rows["guarded"]["new"], rows["open"]["new"], rows["plain"]["new"]) == (2, 1, 1), rows
    assert rows["wrong"]["why"] == f"feed {wrong}: {SOCKS_AUTH}", rows["wrong"]
    assert rows["anonymous"]["why"] == f"feed {anonymous}: {SOCKS_AUTH}", rows["anonymous"]
    assert len(export(tmp_path / "n.toml")) == 4
    pages = {"/guarded/news/0.html", "/guarded/news/1.html"}
    assert set(locked.paths) == {"/guarded/feed.xml", "/robots.txt", *pages}
    assert {(c.host, c.address_type) for c in locked.connects} == {("localhost", "domain")}
    assert locked.refused_logins >= 1
    assert set(free.paths) == {"/open/feed.xml", "/robots.txt", "/open/news/0.html"}
    assert {(c.host, c.address_type) for c in free.connects} == {("127.0.0.1", "ipv4")}
    mine = [r for r in site.requests if r.path.startswith("/guarded/")]
    assert len(mine) == 3 and {r.status for r in mine} == {200}
    assert {r.headers["user-agent"] for r in mine} == {AGENT}
    assert not [r for r in site.requests if "proxy-authorization" in r.headers]
    assert not [r for r in site.requests if r.path.startswith(("/wrong/", "/anonymous/"))]
    assert len(site.hits("/plain/feed.xml")) == 1  # directly: neither proxy saw it
    for secret in (PASSWORD, WRONG, KEY, SESSION):
        assert secret not in out + err


def test_sources_fetch_through_an_https_proxy(
    site: LocalSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An https:// proxy (TLS to the proxy) with Basic credentials: ``guarded``'s http pages
    are forwarded by it, ``tunnelled``'s https pages go through a CONNECT tunnel inside its
    TLS; ``plain`` goes directly; a wrong password fails an http and an https feed with the
    407 reason and reaches no site."""
    monkeypatch.setenv("PROXY_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_PASSWORD", WRONG)
    with (
        LocalSite(tls=server_context(tmp_path)) as tls_site,
        ForwardingProxy(credentials=("relay", PASSWORD), tls=server_context(tmp_path)) as proxy,
    ):
        guarded = stories(site, "guarded", 2, seed=500, **REQUIRED)
        tunnelled = stories(tls_site, "tunnelled", 1, seed=600)
        plain = stories(site, "plain", 1, seed=700)
        wrong_http = stories(site, "wrong", 1, seed=800)
        wrong_https = stories(tls_site, "wrong", 1, seed=900)
        good, bad = proxy.url("relay", "${PROXY_PASSWORD}"), proxy.url("relay", "${WRONG_PASSWORD}")
        sources = (
            guarded_toml(guarded, good)
            + plain_toml("tunnelled", tunnelled, good)
            + plain_toml("plain", plain)
            + plain_toml("wrong-http", wrong_http, bad)
            + plain_toml("wrong-https", wrong_https, bad)
        )
        code, out, err = crawl(tmp_path, sources)

    rows = summary(out)
    assert code == 1, out + err[-3000:]
    new = (rows["guarded"]["new"], rows["tunnelled"]["new"], rows["plain"]["new"])
    assert new == (2, 1, 1), rows
    for name, feed in (("wrong-http", wrong_http), ("wrong-https", wrong_https)):
        assert rows[name]["why"] == f"feed {feed}: {PROXY_AUTH}", rows[name]
    forwarded = {r.path for r in proxy.requests if r.method == "GET" and r.status != 407}
    assert forwarded == {"/guarded/feed.xml", "/guarded/news/0.html", "/guarded/news/1.html"} | {
        "/robots.txt"
    }
    tunnels = [r for r in proxy.requests if r.method == "CONNECT" and r.status == 200]
    assert {r.url for r in tunnels} == {tls_site.base.removeprefix("https://")}
    inside = {r.path for r in tls_site.requests if r.path.startswith("/tunnelled/")}
    assert inside == {"/tunnelled/feed.xml", "/tunnelled/news/0.html"}
    mine = [r for r in site.requests if r.path.startswith("/guarded/")]
    assert {r.headers["user-agent"] for r in mine} == {AGENT} and len(mine) == 3
    assert not [r for r in site.requests + tls_site.requests if "proxy-authorization" in r.headers]
    assert not [r for r in site.requests + tls_site.requests if r.path.startswith("/wrong/")]
    assert len(site.hits("/plain/feed.xml")) == 1
    assert "/plain/feed.xml" not in {r.path for r in proxy.requests}
    for secret in (PASSWORD, WRONG, KEY, SESSION):
        assert secret not in out + err


@pytest.mark.parametrize("scheme", ["socks5", "https"])
def test_private_page_hosts_stay_refused_through_socks_and_https_proxies(
    site: LocalSite, tmp_path: Path, scheme: str
) -> None:
    """With ``allow_private_networks = false`` and the proxy on loopback (named
    ``localhost``): a public page goes through it; a private address, or a name resolving to
    one, is refused before anything reaches the proxy, with the reason it has without one."""
    public = stories(site, "public", 1, seed=300, base=f"http://{PUBLIC}")
    inside = stories(site, "inside", 1, seed=400)
    route = {PUBLIC: ("127.0.0.1", int(site.base.rpartition(":")[2]))}
    proxy: SocksProxy | ForwardingProxy
    if scheme == "socks5":
        proxy = SocksProxy(hosts=route)
    else:
        proxy = ForwardingProxy(hosts=route, tls=server_context(tmp_path))
    with proxy:
        via = f"{scheme}://localhost:{proxy.port}"
        sources = (
            plain_toml("public", public, via)
            + plain_toml("literal", inside, via)
            + plain_toml("name", inside.replace("127.0.0.1", "127.1"), via)
        )
        code, out, err = crawl(tmp_path, sources, allow_private=False)

    rows = summary(out)
    assert code == 1, out + err[-3000:]
    assert (rows["public"]["status"], rows["public"]["new"]) == ("ok", 1), rows["public"]
    assert rows["literal"]["why"] == (
        f"feed {inside}: refused 127.0.0.1: it resolves to non-public address 127.0.0.1 {HINT}"
    )
    assert rows["name"]["why"] == (
        f"feed {inside.replace('127.0.0.1', '127.1')}: "
        f"refused 127.1: it resolves to non-public address 127.0.0.1 {HINT}"
    )
    assert not [r for r in site.requests if r.path.startswith("/inside/")]
    if isinstance(proxy, SocksProxy):
        assert {c.host for c in proxy.connects} == {PUBLIC}
    else:
        assert {r.path for r in proxy.requests} == {"/public/feed.xml", "/public/news/0.html"} | {
            "/robots.txt"
        }


@pytest.mark.parametrize("scheme", ["socks5", "socks5h", "https"])
def test_config_masks_the_password_of_every_proxy_scheme(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, scheme: str
) -> None:
    monkeypatch.setenv("PROXY_PASSWORD", PASSWORD)
    sources = plain_toml("a", "https://a.example/feed", f"{scheme}://relay:${{PROXY_PASSWORD}}@p:1")
    config = write_config(tmp_path / "n.toml", f"sqlite:///{tmp_path / 'n.db'}", sources)
    result = run_newsrelay("config", config=config)
    assert result.returncode == 0, result.stderr
    assert PASSWORD not in result.stdout
    assert json.loads(result.stdout)["sources"][0]["proxy"] == f"{scheme}://relay:***@p:1"


def test_size_limit_and_timeout_hold_through_a_socks5_proxy(
    site: LocalSite, tmp_path: Path
) -> None:
    """Through a SOCKS5 proxy a page over ``max_page_bytes`` (announced, or streamed without
    end), a page slower than ``timeout`` and one that trickles in for longer than ``timeout``
    (each read well within it) fail with the reasons they have without a proxy, and the
    small page beside them is stored."""
    site.add_stream("/big.html", lambda: iter([b"x" * 65536] * 100), length=6553600)
    site.add_stream("/endless.html", lambda: iter(lambda: b"x" * 65536, b""))
    site.add("/slow.html", "<html><body>slow</body></html>", delay=4)
    site.add_stream("/drip.html", lambda: _drip(seconds=8))
    site.add("/fine.html", article_html(1000))
    items = "".join(
        f"<item><title>{p}</title><link>{site.base}/{p}.html</link><guid>{p}</guid></item>"
        for p in ("fine", "big", "endless", "slow", "drip")
    )
    feed = site.add(
        "/feed.xml",
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>',
        content_type="application/rss+xml",
    )
    with SocksProxy() as proxy:
        config = tmp_path / "n.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "n.db"}"\n\n[fetch]\n'
            "allow_private_networks = true\ntimeout = 2\nretries = 0\nmax_page_bytes = 100000\n"
            '\n[http]\nlisten = ""\n\n' + plain_toml("fine", feed, proxy.url("socks5")),
            encoding="utf-8",
        )
        result = run_newsrelay("crawl", "--all", "--json", config=config)

    row = summary(result.stdout)["fine"]
    assert row["new"] == 1, result.stdout + result.stderr[-3000:]
    reasons = "\n".join(row["reasons"])
    assert "big.html: response larger than [fetch] max_page_bytes (100000 bytes): " in reasons
    assert "endless.html: response larger than [fetch] max_page_bytes: cut off" in reasons
    assert "slow.html: timed out" in reasons and "drip.html: timed out" in reasons
    assert {"/big.html", "/endless.html", "/slow.html", "/drip.html"} <= set(proxy.paths)


def _drip(seconds: float) -> Iterator[bytes]:
    """A page sent a few bytes every 0.2 s for ``seconds``."""
    yield b"<html><body>"
    for _ in range(int(seconds / 0.2)):
        time.sleep(0.2)
        yield b"."
    yield b"</body></html>"
