"""A run's writes, few and late: the run's row is made when something needs it, and a run's
end (its row, its feeds' poll outcomes, its source's health) is one transaction.

A poll that changes nothing (every feed answers 304 or is not due) writes only at its end:
the finished run's row and each polled feed's outcome, in one commit. The feed states and
health it decided on come from the crawling process's memory, so each feed's UPDATE carries
them as a condition (:attr:`FeedPoll.expected`): when another process changed them in the
meantime, the UPDATE matches nothing, and the close reads the stored state back instead of
trusting what it remembered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, exists, insert, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from storage.db import Database
from storage.models import CrawlRun, Feed, Source, utcnow
from storage.records import FeedState, RunCounters, SourceHealth, SourceIds
from storage.runs import owner
from storage.sources import ensure_source
from storage.statements import insert_ignore

logger = logging.getLogger(__name__)

# The statements of a run's end, built once, their values passed as parameters: SQLAlchemy
# then compiles each shape once and finds it in its cache by a cheap key. Built with
# `.values(**row)` at every run, it walked every value to make that key (a fifth of the
# daemon's CPU in an unchanged poll).
_RUNS: Table = CrawlRun.__table__  # type: ignore[assignment]
_FEEDS: Table = Feed.__table__  # type: ignore[assignment]
_SOURCES: Table = Source.__table__  # type: ignore[assignment]
_NAMES_PER_QUERY = 500  # well under SQLite's 32,766 bound parameters, with the feeds'
_INSERT_RUN = insert(_RUNS).returning(_RUNS.c.id)
_UPDATE_RUN = update(_RUNS).where(_RUNS.c.id == bindparam("run"))
_UPDATE_FEED = update(_FEEDS).where(_FEEDS.c.id == bindparam("feed"))
# A 304's write, only if the feed and its source are still as the crawl knew them.
_UPDATE_FEED_IF_UNCHANGED = _UPDATE_FEED.where(
    _FEEDS.c.etag.is_not_distinct_from(bindparam("etag_was")),
    _FEEDS.c.last_modified.is_not_distinct_from(bindparam("last_modified_was")),
    _FEEDS.c.next_poll_after.is_not_distinct_from(bindparam("next_poll_was")),
    exists().where(
        _SOURCES.c.id == bindparam("source"),
        _SOURCES.c.consecutive_failures == bindparam("failures_was"),
        _SOURCES.c.backoff_until.is_not_distinct_from(bindparam("backoff_was")),
    ),
)


@dataclass(frozen=True)
class SourceSnapshot:
    """What a crawl needs to know of a source before it polls: its ids, each feed's
    validators and next-poll bound, its health."""

    ids: SourceIds
    states: dict[int, FeedState]
    health: SourceHealth


@dataclass(frozen=True)
class FeedPoll:
    """One feed's poll outcome, written at the run's end. ``expected``: the state the poll was
    decided on, for a 304 (None: written whatever is stored now)."""

    feed_id: int
    status: int | None
    error: str | None = None
    validators: FeedState | None = None  # after a 200
    next_poll_after: datetime | None = None
    keep_next_poll: bool = False  # leave the stored bound as it is
    expected: FeedState | None = None


@dataclass(frozen=True)
class RunEnd:
    """Everything a run's end writes. ``decide``: the source's health after the run, given
    the health before (None: the run says nothing about it, e.g. interrupted)."""

    source_id: int
    feed_ids: Sequence[int]
    run_id: int | None  # None: the run had no row yet; it is inserted finished
    started_at: datetime
    worker: str | None
    status: str
    counters: RunCounters
    error: str | None
    polls: Sequence[FeedPoll] = ()
    revisit: frozenset[int] = frozenset()  # feeds whose next poll must be unconditional
    due_now: bool = False  # ... and may come at once
    health: SourceHealth = field(default_factory=SourceHealth)  # as the crawl knows it
    health_read: bool = False  # ``health`` was read from the database during this run
    decide: Callable[[SourceHealth], SourceHealth] | None = None


@dataclass(frozen=True)
class RunClosed:
    """The run's id, the source's health before and after, and its feeds' states as stored
    now, read back when the crawl's own view was not confirmed by the writes (else None: it
    holds)."""

    run_id: int
    before: SourceHealth
    after: SourceHealth
    states: dict[int, FeedState] | None


def load_source(db: Database, name: str, feed_urls: Sequence[str]) -> SourceSnapshot:
    """The source and its feeds (created if missing), their states and health."""
    return read_source(db, ensure_source(db, name, feed_urls))


def load_sources(
    db: Database, feeds_by_name: Mapping[str, Sequence[str]]
) -> dict[str, SourceSnapshot]:
    """``load_source`` of many sources at once, in one transaction of four statements per
    ``_NAMES_PER_QUERY`` sources. One by one, a daemon starting with 10,000 sources made
    about 90,000 statements in 40,000 transactions: its start-up ensured each source, then
    each one's first poll read its backoff, ensured it again and read its state."""
    names = sorted(feeds_by_name)
    snapshots: dict[str, SourceSnapshot] = {}
    with db.transaction() as session:
        created = utcnow()
        for start in range(0, len(names), _NAMES_PER_QUERY):
            chunk = names[start : start + _NAMES_PER_QUERY]
            rows = [{"name": name, "created_at": created} for name in chunk]
            insert_ignore(session, Source, rows, ["name"])
            sources = session.execute(
                select(
                    Source.id, Source.name, Source.consecutive_failures, Source.backoff_until
                ).where(Source.name.in_(chunk))
            ).all()
            ids = {row.name: row.id for row in sources}
            feeds = [{"source_id": ids[n], "url": url} for n in chunk for url in feeds_by_name[n]]
            insert_ignore(session, Feed, feeds, ["source_id", "url"])
            by_source: dict[int, list[Any]] = {source_id: [] for source_id in ids.values()}
            for feed in session.execute(
                select(Feed.source_id, Feed.url, Feed.id, Feed.etag, Feed.last_modified)
                .add_columns(Feed.next_poll_after)
                .where(Feed.source_id.in_(list(ids.values())))
            ):
                by_source[feed.source_id].append(feed)
            for row in sources:
                feeds_of = by_source[row.id]
                snapshots[row.name] = SourceSnapshot(
                    SourceIds(row.id, {f.url: f.id for f in feeds_of}),
                    {f.id: FeedState(f.etag, f.last_modified, f.next_poll_after) for f in feeds_of},
                    SourceHealth(row.consecutive_failures, row.backoff_until),
                )
    return snapshots


def read_source(db: Database, ids: SourceIds) -> SourceSnapshot:
    """The stored state of a source known by its ids, in one query."""
    with db.reading() as session:
        states, health = _stored(session, ids.source_id, ids.feed_ids.values())
    return SourceSnapshot(ids, states, health)


def start_run_row(db: Database, source_id: int, started_at: datetime, worker: str | None) -> int:
    """The ``running`` row of a run that now has something to store."""
    with db.transaction() as session:
        return _insert_run(session, source_id, started_at, worker, {"status": "running"})


def feed_fetched(
    db: Database,
    poll: FeedPoll,
    source_id: int,
    started_at: datetime,
    worker: str | None,
    run_id: int | None,
) -> int:
    """A feed's new validators, written now, with the run's row (made if it had none) in the
    same transaction: a process killed before the run's end leaves it ``running``, and
    ``mark_abandoned_runs`` then forgets these validators, whose entries may not be stored."""
    with db.transaction() as session:
        if run_id is None:
            run_id = _insert_run(session, source_id, started_at, worker, {"status": "running"})
        session.execute(_UPDATE_FEED, {"feed": poll.feed_id, **_poll_values(poll)})
    return run_id


def close_run(db: Database, end: RunEnd) -> RunClosed:
    """The run's end in one transaction: its row (inserted finished, or closed), its feeds'
    outcomes, their validators forgotten where pages must be retried, the source's health
    (written only if it changes)."""
    finished = {
        **vars(end.counters),
        "status": end.status,
        "error": end.error,
        "finished_at": utcnow(),
    }
    with db.transaction() as session:
        if end.run_id is None:
            run_id = _insert_run(session, end.source_id, end.started_at, end.worker, finished)
        else:
            run_id = end.run_id
            session.execute(_UPDATE_RUN, {"run": run_id, **finished})
        confirmed = _write_polls(session, end) or end.health_read
        _forget_validators(session, end.revisit, end.due_now)
        states, before = None, end.health
        if not confirmed:
            states, before = _stored(session, end.source_id, end.feed_ids)
        after = end.decide(before) if end.decide is not None else before
        if after != before:
            session.execute(
                update(Source)
                .where(Source.id == end.source_id)
                .values(
                    consecutive_failures=after.consecutive_failures,
                    backoff_until=after.backoff_until,
                )
            )
    return RunClosed(run_id, before, after, states)


def _insert_run(
    session: Session,
    source_id: int,
    started_at: datetime,
    worker: str | None,
    values: dict[str, Any],
) -> int:
    row = {"source_id": source_id, "started_at": started_at, "worker": worker, **owner()}
    return int(session.execute(_INSERT_RUN, {**row, **values}).scalar_one())


def _write_polls(session: Session, end: RunEnd) -> bool:
    """Each poll's outcome; whether the crawl's view of the source held (at least one
    conditional write, and every one matched)."""
    held: bool | None = None
    for poll in sorted(end.polls, key=lambda p: p.feed_id):  # one lock order for PostgreSQL
        values = _poll_values(poll)
        if poll.error is not None:
            _write_failure(session, poll.feed_id, values)
            continue
        if poll.expected is not None:
            if held is not False:
                matched = session.execute(
                    _UPDATE_FEED_IF_UNCHANGED,
                    {"feed": poll.feed_id, **_unchanged(end, poll.expected), **values},
                )
                if matched.rowcount:  # type: ignore[attr-defined]
                    held = True
                    continue
                held = False
            # Another process changed the source since this one read it (polled it, asked
            # for a full read): its state stands; this poll only says when and how it went.
            values.pop("next_poll_after", None)
        session.execute(_UPDATE_FEED, {"feed": poll.feed_id, **values})
    return bool(held)


def _write_failure(session: Session, feed_id: int, values: dict[str, Any]) -> None:
    """A feed's failure, in a savepoint: a database refusing it (the failure may be the
    database's own) must not also lose the run's record."""
    try:
        with session.begin_nested():
            session.execute(_UPDATE_FEED, {"feed": feed_id, **values})
    except SQLAlchemyError as exc:
        logger.debug("feed failure not recorded: feed_id=%d: %s", feed_id, exc)


def _unchanged(end: RunEnd, state: FeedState) -> dict[str, Any]:
    """The parameters of :data:`_UPDATE_FEED_IF_UNCHANGED`: the feed's stored state, and its
    source's health, as the crawl knew them."""
    return {
        "etag_was": state.etag,
        "last_modified_was": state.last_modified,
        "next_poll_was": state.next_poll_after,
        "source": end.source_id,
        "failures_was": end.health.consecutive_failures,
        "backoff_was": end.health.backoff_until,
    }


def _poll_values(poll: FeedPoll) -> dict[str, Any]:
    values: dict[str, Any] = {
        "last_status": poll.status,
        "last_error": poll.error,
        "last_fetched_at": utcnow(),
    }
    if poll.validators is not None:
        values["etag"] = poll.validators.etag
        values["last_modified"] = poll.validators.last_modified
    if not poll.keep_next_poll:
        values["next_poll_after"] = poll.next_poll_after
    return values


def _forget_validators(session: Session, feed_ids: Iterable[int], due_now: bool) -> None:
    ids = sorted(set(feed_ids))
    if not ids:
        return
    values: dict[str, Any] = {"etag": None, "last_modified": None}
    if due_now:
        values["next_poll_after"] = None
    session.execute(update(Feed).where(Feed.id.in_(ids)).values(**values))


def _stored(
    session: Session, source_id: int, feed_ids: Iterable[int]
) -> tuple[dict[int, FeedState], SourceHealth]:
    """One query: the states of the source's feeds among ``feed_ids``, and its health."""
    wanted = (Feed.source_id == Source.id) & Feed.id.in_(list(feed_ids))
    rows = session.execute(
        select(
            Source.consecutive_failures,
            Source.backoff_until,
            Feed.id,
            Feed.etag,
            Feed.last_modified,
            Feed.next_poll_after,
        )
        .select_from(Source)
        .outerjoin(Feed, wanted)
        .where(Source.id == source_id)
    ).all()
    health = SourceHealth(rows[0].consecutive_failures, rows[0].backoff_until)
    states = {
        row.id: FeedState(row.etag, row.last_modified, row.next_poll_after)
        for row in rows
        if row.id is not None
    }
    return states, health
