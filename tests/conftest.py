"""Shared fixtures: a local HTTP site, databases (SQLite always, PostgreSQL where reachable),
and a way to run the real ``newsrelay`` command against them.

PostgreSQL: ``NEWSRELAY_TEST_POSTGRES_URL`` (default the CI server on 127.0.0.1:5432). Without a
reachable server the PostgreSQL cases skip with the reason; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.localsite import LocalSite

REPO = Path(__file__).resolve().parent.parent
CORPUS = Path(__file__).resolve().parent / "corpus" / "feeds"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
NEWSRELAY = Path(sys.executable).parent / "newsrelay"
POSTGRES_URL = os.environ.get(
    "NEWSRELAY_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() == "true"


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as local:
        yield local


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


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A URL to an empty database: a fresh SQLite file, or a fresh PostgreSQL schema."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'newsrelay.db'}"
        return
    require_postgres()
    with postgres_schema() as url:
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL to a fresh PostgreSQL schema, for what only PostgreSQL can show."""
    require_postgres()
    with postgres_schema() as url:
        yield url


def require_postgres() -> None:
    """Skip the test when PostgreSQL is unreachable; fail it instead when CI=true."""
    problem = _postgres_problem()
    if problem:
        if IN_CI:
            pytest.fail(f"CI=true but {problem}")
        pytest.skip(problem)


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


def write_config(path: Path, db_url: str, sources: str, *, allow_private: bool = True) -> Path:
    """A newsrelay.toml for a test: ``sources`` is the TOML of the [[sources]] tables."""
    path.write_text(
        f'[database]\nurl = "{db_url}"\n\n'
        f"[fetch]\nallow_private_networks = {'true' if allow_private else 'false'}\n"
        "timeout = 10\nretries = 0\n\n" + sources,
        encoding="utf-8",
    )
    return path
