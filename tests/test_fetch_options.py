"""A source's fetch options (``user_agent``, ``headers``, ``cookies``, ``proxy``): a bad value
is one config line, and ``newsrelay config`` masks the secrets among them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from crawler.config import ConfigError, load_config
from tests.support import run_newsrelay, write_config

AGENT = "ExampleReader/2.0 (+https://example.org/reader)"
KEY = "key-3f9a61c0"
SESSION = "session-77c1d2e8"


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


BASE = '[[sources]]\nname = "a"\nfeeds = ["https://a.example/feed"]\n'


@pytest.mark.parametrize(
    ("toml", "expected"),
    [
        ('proxy = "socks5://u:pw-1@127.0.0.1:1080"', "SOCKS proxies are not supported yet"),
        ('proxy = "https://proxy.example:3128"', "https:// proxies are not supported"),
        ('proxy = "ftp://proxy.example"', "is not a proxy URL like"),
        ('proxy = "http://:3128"', "is not a proxy URL like"),
        ('proxy = "http://proxy.example:3128/path"', "is not a proxy URL like"),
        ('proxy = "http://u:pw/1@proxy.example:3128"', "percent-encode"),
        ("proxy = 3128", "Input should be a valid string (got 3128)"),
        ('user_agent = "one\\ntwo"', "a User-Agent must be one line of text"),
        ('headers = {"X Key" = "1"}', "'X Key' is not a header name"),
        ('headers = {"X-Key:" = "1"}', "'X-Key:' is not a header name"),
        ('headers = {"X-Key" = 5}', "headers.X-Key: Input should be a valid string (got 5)"),
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
    config.write_text(BASE + 'proxy = "socks5://relay:pw-1@127.0.0.1:1080"\n', encoding="utf-8")
    result = run_newsrelay("crawl", "--all", config=config)
    assert result.returncode == 2
    assert result.stderr == (
        f"newsrelay: error: {config}: sources[0] (a).proxy: 'socks5://***@127.0.0.1:1080': "
        "SOCKS proxies are not supported yet; use an http:// proxy\n"
    )
