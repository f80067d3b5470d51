"""Shared fixtures: a local HTTP site and databases (SQLite always, PostgreSQL where
reachable). Helpers that test modules share, such as running the real ``newsrelay`` command
against them, are in ``tests.support``.

PostgreSQL: ``NEWSRELAY_TEST_POSTGRES_URL`` (default the CI server on 127.0.0.1:5432). Without a
reachable server the PostgreSQL cases skip with the reason; with ``CI=true`` they fail instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

# Before it is imported: a failing assert in a shared helper says what it compared, as it did
# when the helpers lived in the test modules.
pytest.register_assert_rewrite("tests.support")

from tests.localsite import LocalSite  # noqa: E402
from tests.support import postgres_schema, require_postgres  # noqa: E402


@pytest.fixture
def site() -> Iterator[LocalSite]:
    with LocalSite() as local:
        yield local


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
