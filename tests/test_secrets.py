"""Secrets stay secret: the password of a database URL (or of any URL with credentials) never
appears in ``newsrelay config`` or in a log line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.localsite import LocalSite

NEWSRELAY = Path(sys.executable).parent / "newsrelay"
PASSWORD = "s3cret-Pa55"


def run(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEWSRELAY), "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "COLUMNS": "200"},
        check=False,
    )


def test_config_and_logs_mask_the_database_password(tmp_path: Path) -> None:
    config = tmp_path / "newsrelay.toml"
    # Port 1: nothing listens, so opening the database fails at once and says so.
    url = f"postgresql+psycopg://newsrelay:{PASSWORD}@127.0.0.1:1/news"
    config.write_text(
        f'[database]\nurl = "{url}"\n\n[[sources]]\nname = "a"\nfeeds = ["http://a.example/f"]\n',
        encoding="utf-8",
    )

    shown = run(config, "config")
    assert shown.returncode == 0, shown.stderr
    assert PASSWORD not in shown.stdout
    assert "postgresql+psycopg://newsrelay:***@127.0.0.1:1/news" in shown.stdout

    for args in (("crawl", "--all"), ("status",), ("health",), ("run", "--once")):
        for log_format in ("text", "json"):
            result = run(config, "--log-format", log_format, *args)
            assert result.returncode in (1, 2), (args, result.stderr)
            assert PASSWORD not in result.stdout + result.stderr, (args, result.stderr)


def test_a_log_line_naming_a_url_with_credentials_masks_its_password(tmp_path: Path) -> None:
    with LocalSite() as site:  # answers 404: the feed fails, and its URL is logged
        feed = site.url("/feed.xml").replace("http://", f"http://reader:{PASSWORD}@")
        config = tmp_path / "newsrelay.toml"
        config.write_text(
            f'[database]\nurl = "sqlite:///{tmp_path / "n.db"}"\n\n'
            "[fetch]\nallow_private_networks = true\nretries = 0\n\n"
            f'[[sources]]\nname = "a"\nfeeds = ["{feed}"]\n',
            encoding="utf-8",
        )
        result = run(config, "--log-format", "json", "crawl", "a")
    assert result.returncode == 1, result.stderr
    assert "feed failed" in result.stderr
    assert PASSWORD not in result.stderr
    assert "reader:***@" in result.stderr
