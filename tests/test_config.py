"""The config file: valid files load into typed objects, every mistake is one clear line."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from crawler.config import ConfigError, load_config
from crawler.dates import parse_interval
from tests.support import run_newsrelay

VALID = """
[database]
url = "sqlite:///data/newsrelay.db"
[fetch]
allow_private_networks = false
[[sources]]
name = "presstv"
feeds = ["https://www.presstv.ir/rss.xml"]
interval = "15m"
[[sources]]
name = "bbc-persian"
feeds = ["https://feeds.bbci.co.uk/persian/rss.xml"]
cron = "*/20 * * * *"
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "newsrelay.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_valid_config_loads(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, VALID))
    assert [s.name for s in config.sources] == ["presstv", "bbc-persian"]
    assert config.sources[0].interval_delta == timedelta(minutes=15)
    assert config.sources[1].cron == "*/20 * * * *"
    assert config.fetch.allow_private_networks is False
    # A relative SQLite path is anchored at the config file, not at the current directory.
    assert config.database.url == f"sqlite:///{tmp_path / 'data' / 'newsrelay.db'}"


def test_the_shipped_example_config_is_valid() -> None:
    config = load_config(Path(__file__).parent.parent / "newsrelay.toml")
    names = {s.name for s in config.sources}
    assert {"presstv", "aljazeera", "rt", "xinhua", "bbc-persian"} <= names


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            VALID.replace('interval = "15m"', 'intervall = "15m"'),
            "sources[0] (presstv).intervall: unknown key",
        ),
        (VALID + "\n[extra]\nx = 1\n", "extra: unknown key"),
        (
            VALID.replace("allow_private_networks = false", 'allow_private_networks = "no"'),
            "fetch.allow_private_networks",
        ),
        (
            VALID.replace('"15m"', '"15 minutes"'),
            "sources[0] (presstv).interval: '15 minutes' is not an interval",
        ),
        (
            VALID.replace('"*/20 * * * *"', '"61 * * * *"'),
            "sources[1] (bbc-persian).cron: '61 * * * *' is not a cron expression",
        ),
        (
            VALID.replace('name = "bbc-persian"', 'name = "presstv"'),
            "source name 'presstv' is used twice",
        ),
        (
            VALID.replace('feeds = ["https://www.presstv.ir/rss.xml"]', 'feeds = ["ftp://x/"]'),
            "is not an http(s) URL",
        ),
        (VALID.replace('name = "presstv"', 'name = "Press TV"'), "sources[0] (Press TV).name"),
        (
            VALID.replace('interval = "15m"', 'interval = "15m"\ncron = "* * * * *"'),
            "either interval or cron",
        ),
        ("[database\n", "TOML syntax error"),
        # Editorial filters and rewrites (crawler.editorial).
        (
            VALID + '\n[filters]\nexclude = [{field = "title", pattern = "(live"}]\n',
            "filters.exclude[0].pattern: '(live' is not a regular expression: missing ),",
        ),
        (
            VALID + '\n[filters]\ninclude = [{field = "body", pattern = "x"}]\n',
            "filters.include[0].field: Input should be 'title', 'text' or 'url'",
        ),
        (
            VALID + '\n[filters]\nlanguages = ["persian"]\n',
            "filters.languages[0]: String should match pattern",
        ),
        (
            VALID.replace('interval = "15m"', 'exclude = [{field = "url", pattern = "[a-"}]'),
            "sources[0] (presstv).exclude[0].pattern: '[a-' is not a regular expression",
        ),
        (
            VALID.replace('interval = "15m"', 'drop_paragraphs = ["(?i)follow us (on"]'),
            "sources[0] (presstv).drop_paragraphs[0]: '(?i)follow us (on' is not a regular",
        ),
        (
            VALID + '[[sources.rewrite]]\nfield = "author"\npattern = "a"\nreplace = "b"\n',
            "sources[1] (bbc-persian).rewrite[0].field: Input should be 'title' or 'text'",
        ),
        (
            VALID + '[[sources.rewrite]]\nfield = "text"\npattern = "(a)"\nreplace = "\\\\2"\n',
            "sources[1] (bbc-persian).rewrite[0]: replace '\\\\2' does not fit the pattern: "
            "invalid group reference 2",
        ),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    message = str(caught.value)
    assert expected in message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.toml")


@pytest.mark.parametrize(
    ("text", "delta"), [("90s", 90), ("15m", 900), ("2h", 7200), ("1d", 86400)]
)
def test_intervals(text: str, delta: int) -> None:
    assert parse_interval(text) == timedelta(seconds=delta)


@pytest.mark.parametrize("text", ["0m", "15", "m", "1w", "-5m"])
def test_bad_intervals(text: str) -> None:
    with pytest.raises(ValueError, match="is not an interval"):
        parse_interval(text)


def test_cli_reports_a_bad_key_in_one_line_with_exit_2(tmp_path: Path) -> None:
    path = write(tmp_path, VALID.replace('interval = "15m"', 'intervall = "15m"'))
    result = run_newsrelay("sources", config=path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"newsrelay: error: {path}: sources[0] (presstv).intervall: unknown key"
    ]
    assert "Traceback" not in result.stderr


def test_cli_sources_and_config(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    listing = run_newsrelay("sources", "--json", config=path)
    assert listing.returncode == 0
    assert '"name": "presstv"' in listing.stdout
    effective = run_newsrelay("config", config=path)
    assert effective.returncode == 0
    assert '"parallel_sources": 16' in effective.stdout  # defaults are filled in


def test_database_url_from_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NEWSRELAY_DATABASE_URL", "sqlite:////data/other.db")
    assert load_config(write(tmp_path, VALID)).database.url == "sqlite:////data/other.db"


EDITORIAL = """
[filters]
exclude = [{field = "title", pattern = "(?i)^(live|video):"}]
languages = ["fa", "en"]
[[sources]]
name = "presstv"
feeds = ["https://www.presstv.ir/rss.xml"]
include = [{field = "url", pattern = "/Detail/"}]
languages = ["EN-us"]
drop_paragraphs = ["(?i)follow us on telegram"]
[[sources.rewrite]]
field = "title"
pattern = '\\s*\\|\\s*Press TV$'
replace = ""
"""


def test_editorial_rules_load_and_combine(tmp_path: Path) -> None:
    """``[filters]`` and a source's own rules both judge its entries; the source's
    ``languages`` replace the global ones; a source without rules gets the global ones."""
    from crawler.editorial import editing_for

    config = load_config(write(tmp_path, EDITORIAL))
    source = config.source("presstv")
    editing = editing_for(config.filters, source)
    assert editing is not None
    assert [r.where for r in editing.rule_sets] == ["filters", "sources[presstv]"]
    assert editing.rewrites[0].replace == "" and editing.drop_paragraphs == (
        "(?i)follow us on telegram",
    )
    url = "https://www.presstv.ir/Detail/2026/03/01/1/x"
    assert editing.before_fetch(url, "Video: the strike") == (
        "filters.exclude[0] title '(?i)^(live|video):'"
    )
    assert editing.before_fetch(url, "The strike") is None
    assert editing.before_fetch("https://www.presstv.ir/live", None) == (
        "sources[presstv].include: no rule matched"
    )
    assert editing.after_extraction(url, "The strike", "Text", "en") is None
    assert editing.after_extraction(url, "The strike", "Text", "fa-IR") == (
        "sources[presstv].languages: 'fa-IR' is not EN-us"
    )
    assert editing.after_extraction(url, "The strike", "Text", None) is None  # unknown: kept
    assert editing_for(config.filters, None) is not None
    assert editing_for(load_config(write(tmp_path, VALID)).filters, source) is not None


def test_cli_reports_a_bad_filter_pattern_in_one_line(tmp_path: Path) -> None:
    path = write(tmp_path, VALID + '\n[filters]\nexclude = [{field = "text", pattern = "*"}]\n')
    result = run_newsrelay("crawl", "--all", config=path)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        f"newsrelay: error: {path}: filters.exclude[0].pattern: '*' is not a regular "
        "expression: nothing to repeat at position 0"
    ]


def test_source_lookup_follows_the_config_it_is_asked_of() -> None:
    """``Config.source`` is a dict lookup built once per config: a copy with other sources
    answers with its own, and the lookup leaves equality alone."""
    from crawler.config import config_from_dict

    raw = {"sources": [{"name": "a", "feeds": ["http://a.example/f"]}]}
    config = config_from_dict(raw)
    assert config.source("a") is config.sources[0]
    other = config_from_dict({"sources": [{"name": "b", "feeds": ["http://b.example/f"]}]})
    copy = config.model_copy(update={"sources": other.sources})
    assert copy.source("b") is other.sources[0]
    assert config == config_from_dict(raw)
