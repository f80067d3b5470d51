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
