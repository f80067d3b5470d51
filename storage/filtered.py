"""Entries an editorial filter dropped: recorded per source with the rule, so that the next
poll counts them as known (``storage.articles.known_entries``) instead of fetching them
again."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from sqlalchemy import delete, select

from storage.db import Database
from storage.models import FilteredEntry, utcnow
from storage.statements import chunks, insert_ignore


def record_filtered(
    db: Database,
    source_id: int,
    run_id: int | None,
    dropped: Mapping[str, str],
    rules: str = "",
) -> None:
    """Record ``dropped`` (canonical URL -> the rule that dropped it) for ``source_id``, under
    its current ``rules`` (their key); an entry recorded under other rules is replaced, one
    recorded under these keeps its first rule."""
    if not dropped:
        return
    now = utcnow()
    rows = [
        {
            "source_id": source_id,
            "url": url,
            "rule": rule,
            "rules": rules,
            "run_id": run_id,
            "filtered_at": now,
        }
        for url, rule in dropped.items()
    ]
    with db.transaction() as session:
        for chunk in chunks(sorted(dropped)):
            session.execute(
                delete(FilteredEntry).where(
                    FilteredEntry.source_id == source_id,
                    FilteredEntry.url.in_(chunk),
                    FilteredEntry.rules != rules,
                )
            )
        insert_ignore(session, FilteredEntry, rows, ["source_id", "url"])


def filtered_urls(db: Database, source_id: int, urls: Iterable[str], rules: str = "") -> set[str]:
    """The subset of ``urls`` (canonical) a filter of ``source_id`` dropped under its
    current ``rules``: an entry dropped by rules since changed is judged again."""
    wanted = sorted(set(urls))
    found: set[str] = set()
    with db.reading() as session:
        for chunk in chunks(wanted):
            found.update(
                session.scalars(
                    select(FilteredEntry.url).where(
                        FilteredEntry.source_id == source_id,
                        FilteredEntry.url.in_(chunk),
                        FilteredEntry.rules == rules,
                    )
                )
            )
    return found


def filtered_entries(db: Database, source_id: int) -> dict[str, str]:
    """Every entry a filter of ``source_id`` dropped: URL -> rule."""
    with db.reading() as session:
        rows = session.execute(
            select(FilteredEntry.url, FilteredEntry.rule).where(
                FilteredEntry.source_id == source_id
            )
        )
        return {url: rule for url, rule in rows}
