"""A source's fetch options (``user_agent``, ``headers``, ``cookies``, ``proxy``): applied to
everything that source fetches and to nothing another source fetches, secrets masked.

Real servers only: a :class:`LocalSite` that answers the guarded source's feed and pages only
with the right header and cookie (403 otherwise), a :class:`ForwardingProxy` on loopback that
wants credentials and records what it forwards, and the real ``newsrelay`` command.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from crawler.config import ConfigError, FetchConfig, load_config
from crawler.failures import PROXY_AUTH
from tests.httpproxy import ForwardingProxy
from tests.localsite import LocalSite
from tests.support import article_html, export, run_newsrelay, summary, write_config
from tests.tls import server_context

RSS = "application/rss+xml; charset=utf-8"
HINT = "(set [fetch] allow_private_networks = true to allow)"
AGENT = "ExampleReader/2.0 (+https://example.org/reader)"
KEY = "key-3f9a61c0"
SESSION = "session-77c1d2e8"
PASSWORD = "pr0xy-Pa55-9d3e"
# What the guarded source's site wants; without it, 403.
REQUIRED: dict[str, Any] = {
    "required_headers": {"X-Api-Key": KEY},
    "required_cookies": {"session": SESSION},
}
# Stands for a public server: the test proxy serves it from the LocalSite (nothing leaves
# loopback), and newsrelay never connects to it itself.
PUBLIC = "93.184.215.14"


def stories(
    site: LocalSite, name: str, count: int, *, seed: int, base: str = "", **required: Any
) -> str:
    """A feed of ``count`` article pages under ``/<name>/`` (texts seeded by ``seed``), all
    answered only with the ``required_headers``/``required_cookies`` given; links spelled
    with ``base`` (default: the site's address). Returns the feed's URL."""
    base = base or site.base
    paths = [f"/{name}/news/{n}.html" for n in range(count)]
    for n, path in enumerate(paths):
        site.add(path, article_html(seed + n), **required)
    items = "".join(
        f"<item><title>{name} {n}</title><link>{base}{p}</link><guid>{name}-{n}</guid></item>"
        for n, p in enumerate(paths)
    )
    feed = (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'
    )
    site.add(f"/{name}/feed.xml", feed, content_type=RSS, **required)
    return f"{base}/{name}/feed.xml"


def guarded_toml(feed: str, proxy: str | None = None, *, header: bool = True) -> str:
    """The source ``guarded``: its User-Agent, the site's key header (unless not ``header``)
    and session cookie, and ``proxy``."""
    lines = [f'[[sources]]\nname = "guarded"\nfeeds = ["{feed}"]\nuser_agent = "{AGENT}"']
    if proxy:
        lines.append(f'proxy = "{proxy}"')
    if header:
        lines.append(f'[sources.headers]\nX-Api-Key = "{KEY}"\nAccept-Language = "fa"')
    lines.append(f'[sources.cookies]\nsession = "{SESSION}"\nlang = "fa"')
    return "\n".join(lines) + "\n\n"


def plain_toml(name: str, feed: str, proxy: str | None = None) -> str:
    extra = f'proxy = "{proxy}"\n' if proxy else ""
    return f'[[sources]]\nname = "{name}"\nfeeds = ["{feed}"]\n{extra}\n'


def test_a_source_fetches_through_its_proxy_with_its_headers_and_cookies(
    site: LocalSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two sources on one site crawled in one run: ``guarded`` through a proxy that wants
    credentials (the password from ``${PROXY_PASSWORD}``), with its User-Agent, key header
    and cookie; ``plain`` directly, with none of them. Both store their stories; the proxy
    saw every request of ``guarded`` (feed, robots.txt, pages) and none of ``plain``; no
    secret reaches the log, debug lines included."""
    monkeypatch.setenv("PROXY_PASSWORD", PASSWORD)
    guarded = stories(site, "guarded", 2, seed=100, **REQUIRED)
    plain = stories(site, "plain", 2, seed=200)
    with ForwardingProxy(credentials=("relay", PASSWORD)) as proxy:
        sources = guarded_toml(guarded, proxy.url("relay", "${PROXY_PASSWORD}"))
        config = write_config(
            tmp_path / "n.toml",
            f"sqlite:///{tmp_path / 'n.db'}",
            sources + plain_toml("plain", plain),
        )
        result = run_newsrelay(
            "--log-format",
            "json",
            "--log-level",
            "debug",
            "crawl",
            "--all",
            "--json",
            config=config,
        )

    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    rows = summary(result.stdout)
    assert (rows["guarded"]["new"], rows["plain"]["new"]) == (2, 2), rows
    assert len(export(config)) == 4
    pages = {"/guarded/news/0.html", "/guarded/news/1.html"}
    assert proxy.paths() == {"/guarded/feed.xml", "/robots.txt", *pages}
    assert {r.headers.get("proxy-authorization") for r in proxy.requests} == {
        proxy.expected_authorization()
    }
    # What reached the site: the guarded source's requests, each through the proxy, with its
    # User-Agent; the plain source's with newsrelay's own and no key or cookie.
    mine = [r for r in site.requests if r.path.startswith("/guarded/")]
    assert len(mine) == 3 and {r.status for r in mine} == {200}
    assert {r.headers["user-agent"] for r in mine} == {AGENT}
    assert {r.headers["accept-language"] for r in mine} == {"fa"}
    theirs = [r for r in site.requests if r.path.startswith("/plain/")]
    assert len(theirs) == 3
    assert {r.headers["user-agent"] for r in theirs} == {FetchConfig().user_agent}
    assert not [r for r in theirs if "x-api-key" in r.headers or "cookie" in r.headers]
    # robots.txt: once through the proxy (for guarded), once directly (for plain).
    assert len(site.hits("/robots.txt")) == 2
    token = str(proxy.expected_authorization()).removeprefix("Basic ")
    for secret in (PASSWORD, token, KEY, SESSION):
        assert secret not in result.stdout + result.stderr


def test_https_pages_go_through_the_proxys_tunnel(
    site: LocalSite, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """https pages through the proxy: a CONNECT tunnel with the credentials, inside it the
    source's User-Agent, key and cookie (the site never sees Proxy-Authorization). With the
    wrong password, an https and an http feed both fail with a reason that names the proxy
    and nothing reaches the site; no password reaches the log."""
    monkeypatch.setenv("PROXY_PASSWORD", PASSWORD)
    monkeypatch.setenv("WRONG_PASSWORD", "wr0ng-Pa55-0c4f")
    with (
        LocalSite(tls=server_context(tmp_path)) as tls_site,
        ForwardingProxy(credentials=("relay", PASSWORD)) as proxy,
    ):
        guarded = stories(tls_site, "guarded", 2, seed=500, **REQUIRED)
        refused_https = stories(tls_site, "refused", 1, seed=600)
        refused_http = stories(site, "refused", 1, seed=700)
        wrong = proxy.url("relay", "${WRONG_PASSWORD}")
        sources = (
            guarded_toml(guarded, proxy.url("relay", "${PROXY_PASSWORD}"))
            + plain_toml("wrong-https", refused_https, wrong)
            + plain_toml("wrong-http", refused_http, wrong)
        )
        config = write_config(tmp_path / "n.toml", f"sqlite:///{tmp_path / 'n.db'}", sources)
        result = run_newsrelay("--log-format", "json", "crawl", "--all", "--json", config=config)

    rows = summary(result.stdout)
    assert result.returncode == 1, result.stdout + result.stderr[-3000:]
    assert (rows["guarded"]["status"], rows["guarded"]["new"]) == ("ok", 2), rows["guarded"]
    tunnels = [r for r in proxy.requests if r.method == "CONNECT"]
    assert {r.url for r in tunnels} == {tls_site.base.removeprefix("https://")}
    wanted = proxy.expected_authorization()
    assert wanted in {r.headers.get("proxy-authorization") for r in tunnels}
    mine = [r for r in tls_site.requests if r.path.startswith("/guarded/")]
    assert len(mine) == 3 and {r.status for r in mine} == {200}
    assert {r.headers["user-agent"] for r in mine} == {AGENT}
    assert not [r for r in tls_site.requests if "proxy-authorization" in r.headers]
    for name, feed in (("wrong-https", refused_https), ("wrong-http", refused_http)):
        assert rows[name]["why"] == f"feed {feed}: {PROXY_AUTH}", rows[name]
    assert not [r for r in tls_site.requests + site.requests if r.path.startswith("/refused/")]
    for secret in (PASSWORD, "wr0ng-Pa55-0c4f", KEY, SESSION):
        assert secret not in result.stdout + result.stderr


def test_without_its_header_the_source_fails_with_the_sites_403(
    site: LocalSite, tmp_path: Path
) -> None:
    """The same source with its cookie but without the key header: the site answers 403,
    the run fails with that reason, nothing is stored."""
    feed = stories(site, "guarded", 2, seed=100, **REQUIRED)
    config = write_config(
        tmp_path / "n.toml", f"sqlite:///{tmp_path / 'n.db'}", guarded_toml(feed, header=False)
    )

    result = run_newsrelay("crawl", "--all", "--json", config=config)

    assert result.returncode == 1, result.stdout + result.stderr
    row = summary(result.stdout)["guarded"]
    assert (row["status"], row["new"], row["why"]) == ("failed", 0, f"feed {feed}: HTTP 403")
    assert [(r.path, r.status) for r in site.requests if r.path.startswith("/guarded/")] == [
        ("/guarded/feed.xml", 403)
    ]
    assert SESSION in site.hits("/guarded/feed.xml")[0].headers["cookie"]


def test_config_shows_the_options_with_their_secrets_masked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``newsrelay config``: the proxy's password (here with an ``@`` and a quote, which a
    pattern over the printed text would cut short), the value of each credential-like header
    and every cookie value are ``***``; the rest is shown as configured."""
    password = "p@ss'w0rd-5e1"
    monkeypatch.setenv("PROXY_PASSWORD", password)
    sources = (
        '[[sources]]\nname = "a"\nfeeds = ["https://a.example/feed"]\n'
        f'user_agent = "{AGENT}"\n'
        'proxy = "http://relay:${PROXY_PASSWORD}@proxy.example:3128"\n'
        f'[sources.headers]\nAuthorization = "Bearer {KEY}"\nX-Api-Key = "{KEY}"\n'
        'Accept-Language = "fa"\n'
        f'[sources.cookies]\nsession = "{SESSION}"\n'
    )
    config = write_config(tmp_path / "n.toml", f"sqlite:///{tmp_path / 'n.db'}", sources)

    result = run_newsrelay("config", config=config)

    assert result.returncode == 0, result.stderr
    for secret in (password, "w0rd-5e1", KEY, SESSION):
        assert secret not in result.stdout
    source = json.loads(result.stdout)["sources"][0]
    assert source["proxy"] == "http://relay:***@proxy.example:3128"
    assert source["headers"] == {
        "Authorization": "***",
        "X-Api-Key": "***",
        "Accept-Language": "fa",
    }
    assert source["cookies"] == {"session": "***"}
    assert source["user_agent"] == AGENT
    # The config itself keeps the real values, for the crawl.
    assert load_config(config).sources[0].proxy == f"http://relay:{password}@proxy.example:3128"


def test_private_addresses_stay_refused_through_a_proxy(site: LocalSite, tmp_path: Path) -> None:
    """With ``allow_private_networks = false`` and a proxy on loopback (named ``localhost``):
    the proxy itself is used, a public page is fetched through it, but a page host that is a
    private address, or a name resolving to one, is refused before anything reaches the
    proxy, with the reason it has without a proxy; the proxy's own host is no page host."""
    public = stories(site, "public", 1, seed=300, base=f"http://{PUBLIC}")
    inside = stories(site, "inside", 1, seed=400)
    port = site.base.rpartition(":")[2]
    with ForwardingProxy(hosts={PUBLIC: ("127.0.0.1", int(port))}) as proxy:
        via = f"http://localhost:{proxy.port}"
        sources = (
            plain_toml("public", public, via)
            + plain_toml("literal", inside, via)
            + plain_toml("name", inside.replace("127.0.0.1", "127.1"), via)
            + plain_toml("at-proxy", f"{via}/feed.xml")
        )
        config = write_config(
            tmp_path / "n.toml", f"sqlite:///{tmp_path / 'n.db'}", sources, allow_private=False
        )
        result = run_newsrelay("crawl", "--all", "--json", config=config)

    rows = summary(result.stdout)
    assert result.returncode == 1, result.stdout + result.stderr
    assert (rows["public"]["status"], rows["public"]["new"]) == ("ok", 1), rows["public"]
    assert proxy.paths() == {"/public/feed.xml", "/public/news/0.html", "/robots.txt"}
    assert rows["literal"]["why"] == (
        f"feed {inside}: refused 127.0.0.1: it resolves to non-public address 127.0.0.1 {HINT}"
    )
    assert rows["name"]["why"] == (
        f"feed {inside.replace('127.0.0.1', '127.1')}: "
        f"refused 127.1: it resolves to non-public address 127.0.0.1 {HINT}"
    )
    assert rows["at-proxy"]["why"] == (
        f"feed {via}/feed.xml: refused localhost: it is a source's proxy, not a site {HINT}"
    )
    assert not [r for r in site.requests if r.path.startswith("/inside/")]


BASE = '[[sources]]\nname = "a"\nfeeds = ["https://a.example/feed"]\n'


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('proxy = "socks4://u:pw-1@127.0.0.1:1080"', "is not a proxy URL like"),
        ('proxy = "socks5://u:pw-1@127.0.0.1:1080/x"', "is not a proxy URL like"),
        ('proxy = "ftp://proxy.example"', "is not a proxy URL like"),
        ('proxy = "http://:3128"', "is not a proxy URL like"),
        ('proxy = "http://proxy.example:3128/path"', "is not a proxy URL like"),
        ('proxy = "http://u:pw/1@proxy.example:3128"', "percent-encode"),
        ("proxy = 3128", "proxy: Input should be a valid string"),
        ('user_agent = "one\\ntwo"', "a User-Agent must be one line of text"),
        ('headers = {"X Key" = "1"}', "'X Key' is not a header name"),
        ('headers = {"X-Key:" = "1"}', "'X-Key:' is not a header name"),
        ('headers = {"X-Key" = 5}', "headers.X-Key: Input should be a valid string"),
        ('headers = "Bearer pw-1"', "headers: Input should be a valid dictionary"),
        ('cookies = "session=pw-1"', "cookies: Input should be a valid dictionary"),
        ('headers = {"X-Key" = "pw-1\\r\\nX-Injected: 1"}', "CR, LF or other control"),
        ('headers = {"Host" = "a.example"}', "header 'Host' cannot be set here"),
        ('headers = {"Cookie" = "a=1"}', "use the source's cookies table"),
        ('headers = {"X-Key" = "1", "x-key" = "2"}', "header 'x-key' is given twice"),
        ('cookies = {"session" = "pw-1 pw-2"}', "cookie 'session': a value may not contain"),
        ('cookies = {"a;b" = "1"}', "'a;b' is not a cookie name"),
    ],
)
def test_a_bad_fetch_option_is_one_line(tmp_path: Path, toml: str, expected: str) -> None:
    path = tmp_path / "n.toml"
    path.write_text(BASE + toml + "\n", encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert message.startswith(f"{path}: sources[0] (a)."), message
    assert expected in message, message
    assert "\n" not in message and "pw-1" not in message  # a secret is never echoed


def test_the_command_says_a_bad_proxy_in_one_line(tmp_path: Path) -> None:
    config = tmp_path / "n.toml"
    config.write_text(BASE + 'proxy = "socks4://relay:pw-1@127.0.0.1:1080"\n', encoding="utf-8")
    result = run_newsrelay("crawl", "--all", config=config)
    assert result.returncode == 2
    assert result.stderr == (
        f"newsrelay: error: {config}: sources[0] (a).proxy: 'socks4://***@127.0.0.1:1080' "
        "is not a proxy URL like 'http|https|socks5|socks5h://[user:password@]host[:port]'\n"
    )


class _Received:
    """An IResolutionReceiver that keeps the addresses passed on to it."""

    def __init__(self) -> None:
        self.addresses: list[str] = []

    def resolutionBegan(self, resolution: Any) -> None:
        pass

    def addressResolved(self, address: Any) -> None:
        self.addresses.append(address.host)

    def resolutionComplete(self) -> None:
        pass


def test_a_name_with_a_private_address_beside_a_public_one_is_noted_for_proxied_pages() -> None:
    """Without a proxy the reactor connects to the public address only; a proxy would resolve
    the name itself and might take the private one, so the guard notes such names (the
    middleware refuses a proxied page whose host is one) and forgets them once they change."""
    from scrapy.utils.datatypes import LocalCache
    from twisted.internet.address import IPv4Address

    from crawler.network import _PublicOnly

    refused: LocalCache[str, str] = LocalCache(10)
    mixed: LocalCache[str, str] = LocalCache(10)
    for addresses, expected in (
        (["93.184.215.14", "10.0.0.7"], "10.0.0.7"),
        (["93.184.215.14"], None),
    ):
        received = _Received()
        guard = _PublicOnly(received, "Mixed.example", refused, mixed)
        guard.resolutionBegan(None)  # type: ignore[arg-type]
        for host in addresses:
            guard.addressResolved(IPv4Address("TCP", host, 80))
        guard.resolutionComplete()
        assert received.addresses == ["93.184.215.14"]
        assert mixed.get("mixed.example") == expected
        assert refused.get("mixed.example") is None


def test_a_proxy_user_name_given_alone_is_masked_and_options_never_print_credentials() -> None:
    """Many proxy services take the API key as the user name, without a password."""
    from crawler.fetch_options import FetchOptions, mask_fetch_secrets

    assert mask_fetch_secrets({"proxy": "http://K3Y@proxy.example:8080"})["proxy"] == (
        "http://***@proxy.example:8080"
    )
    options = FetchOptions("ua", (("Cookie", "s=C00KIE"),), "http://u:PW@p.example:1", frozenset())
    assert "C00KIE" not in repr(options) and "PW" not in repr(options)
