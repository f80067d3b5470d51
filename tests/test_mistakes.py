"""A user's mistakes, through the real CLI: each is one line on stderr naming the problem, exit
code 2, no traceback, nothing crawled.

Read-only files: as root, file modes do not stop writes, so there the database's directory
is made read-only the way a container's volume is: a read-only bind mount in a private mount
namespace (``unshare --mount``), which stops root too. Where neither works the case skips and
says why.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest

from tests.localsite import LocalSite, SilentServer
from tests.support import NEWSRELAY, Result, run_newsrelay

VALID = """\
[database]
url = "{db_url}"

[fetch]
allow_private_networks = true
timeout = 2
retries = 0

[[sources]]
name = "wire"
feeds = ["{feed}"]
interval = "15m"
"""


def config(tmp_path: Path, db_url: str, feed: str = "http://127.0.0.1:9/feed.xml") -> Path:
    path = tmp_path / "newsrelay.toml"
    path.write_text(VALID.format(db_url=db_url, feed=feed), encoding="utf-8")
    return path


def one_line(result: Result) -> str:
    """The one error line of a run that must have failed with exit code 2."""
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("newsrelay: error: ")
    return lines[0].removeprefix("newsrelay: error: ")


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again when the block ends


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ('interval = "15m"', 'interval = "15m"\n[fetch', "TOML syntax error: "),
        ("timeout = 2", "timout = 2", "fetch.timout: unknown key"),
        ("retries = 0", 'retries = "none"', "fetch.retries: Input should be a valid integer"),
        (
            'interval = "15m"',
            'cron = "*/61 * * * *"',
            "sources[0] (wire).cron: '*/61 * * * *' is not a cron expression",
        ),
        ('interval = "15m"', 'interval = "15 minutes"', "sources[0] (wire).interval: '15 min"),
    ],
)
def test_config_mistakes(tmp_path: Path, old: str, new: str, expected: str) -> None:
    path = config(tmp_path, f"sqlite:///{tmp_path / 'db' / 'newsrelay.db'}")
    path.write_text(path.read_text().replace(old, new, 1), encoding="utf-8")
    line = one_line(run_newsrelay("crawl", "--all", config=path))
    assert line.startswith(f"{path}: {expected}"), line
    assert not (tmp_path / "db").exists()  # nothing was created


def test_postgresql_on_a_closed_port(tmp_path: Path) -> None:
    url = f"postgresql+psycopg://newsrelay:secret@127.0.0.1:{closed_port()}/news"
    line = one_line(run_newsrelay("crawl", "--all", config=config(tmp_path, url)))
    assert line.startswith("cannot open database postgresql+psycopg://newsrelay:***@127.0.0.1:")
    assert "Connection refused" in line
    assert "secret" not in line


def test_postgresql_that_never_answers(tmp_path: Path) -> None:
    """A server that accepts the connection and says nothing (a wrong host behind a proxy,
    a hung server): bounded by newsrelay's default connect timeout (10 s)."""
    with SilentServer() as silent:
        port = silent.url().split(":")[2].rstrip("/")
        url = f"postgresql+psycopg://newsrelay@127.0.0.1:{port}/news"
        result = run_newsrelay("crawl", "--all", config=config(tmp_path, url), timeout=60)
    line = one_line(result)
    assert line.startswith(f"cannot open database {url}: "), line
    assert "timeout expired" in line


def test_sqlite_in_a_directory_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file, not a directory")
    database = tmp_path / "data" / "news" / "newsrelay.db"
    line = one_line(
        run_newsrelay("crawl", "--all", config=config(tmp_path, f"sqlite:///{database}"))
    )
    assert line.startswith(f"cannot create directory for {database}: "), line
    assert "Not a directory" in line


def read_only_run(directory: Path, config_path: Path, *args: str) -> Result:
    """``newsrelay`` with ``directory`` read-only: by its mode for an ordinary user, by a
    read-only bind mount for root (whom modes do not stop)."""
    command = [str(NEWSRELAY), "--config", str(config_path), *args]
    if os.geteuid() != 0:
        return run_newsrelay(*args, config=config_path)
    script = 'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && shift && exec "$@"'
    done = subprocess.run(
        ["unshare", "--mount", "sh", "-c", script, "sh", str(directory), *command],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "COLUMNS": "200"},
    )
    return Result(done.returncode, done.stdout, done.stderr)


def _read_only_problem(directory: Path) -> str | None:
    """Why ``directory`` cannot be made read-only for this user here, or None."""
    if os.geteuid() != 0:
        return None
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        return "running as root (file modes do not stop root) and unshare/mount are missing"
    probe = subprocess.run(
        ["unshare", "--mount", "sh", "-c",
         'mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && ! touch "$1/probe"',
         "sh", str(directory)],
        capture_output=True, text=True, timeout=30, check=False,
    )  # fmt: skip
    if probe.returncode != 0:
        reason = (probe.stderr.strip().splitlines() or ["failed"])[-1]
        return f"running as root and no read-only bind mount is possible here: {reason}"
    return None


@pytest.mark.parametrize("args", [("crawl", "--all"), ("export", "--mark-published")])
def test_a_read_only_database_file(site: LocalSite, tmp_path: Path, args: tuple[str, ...]) -> None:
    """An existing database that cannot be written: refused before any work (no feed is
    requested), where SQLite itself would open it and fail at the first write."""
    data = tmp_path / "data"
    data.mkdir()
    database = data / "newsrelay.db"
    feed = site.add("/feed.xml", "<rss version='2.0'><channel></channel></rss>")
    path = config(tmp_path, f"sqlite:///{database}", feed)
    assert run_newsrelay("crawl", "--all", config=path).returncode == 0  # creates the database
    requests = len(site.requests)
    if problem := _read_only_problem(data):
        pytest.skip(problem)
    database.chmod(0o444)
    try:
        line = one_line(read_only_run(data, path, *args))
    finally:
        database.chmod(0o644)
    assert line == (
        f"database file {database} is not writable (newsrelay writes to it): check its "
        "permissions and that its file system is not read-only"
    )
    assert len(site.requests) == requests


def test_a_read_only_directory(tmp_path: Path) -> None:
    """A new database in a directory that cannot be written (SQLite needs its -wal and -shm
    files there too)."""
    data = tmp_path / "data"
    data.mkdir()
    if problem := _read_only_problem(data):
        pytest.skip(problem)
    database = data / "newsrelay.db"
    path = config(tmp_path, f"sqlite:///{database}")
    data.chmod(0o555)
    try:
        line = one_line(read_only_run(data, path, "crawl", "--all"))
    finally:
        data.chmod(0o755)
    assert line == (
        f"directory {data} is not writable: SQLite keeps its -wal and -shm files beside the "
        "database"
    )
    assert not database.exists()
