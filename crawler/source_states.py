"""What this process knows of each source's stored state, by name: its ids, its feeds'
validators and next-poll bounds, its health. Read once from the database, then kept up to
date by this process's own writes, so that a poll that changes nothing reads nothing.

Another process (a ``newsrelay crawl`` beside the daemon, another cluster worker) may change
that state meanwhile. What is kept here is therefore only ever a guess that the writes check:
a run's end writes each 304 on the condition that the feed and the source still hold what
the run decided on (``storage.run_ends``), and reads the stored state back when they do not.
The answers that would hold a poll back ("not due yet", "backing off") are read again from
the database before they are acted on, so a stale guess costs at most one poll made with old
validators or during another process's backoff, never a poll skipped.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime

from storage.records import FeedState, SourceHealth, SourceIds
from storage.run_ends import FeedPoll, SourceSnapshot


@dataclass
class KnownSource:
    """One source's state as this process last read or wrote it."""

    feeds: tuple[str, ...]  # the config's feed list the ids were made for
    ids: SourceIds
    states: dict[int, FeedState]
    health: SourceHealth

    @classmethod
    def of(cls, feeds: tuple[str, ...], snapshot: SourceSnapshot) -> KnownSource:
        return cls(feeds, snapshot.ids, dict(snapshot.states), snapshot.health)

    def state(self, feed_id: int) -> FeedState:
        return self.states.get(feed_id, FeedState())

    def not_due(self, now: datetime) -> bool:
        """Some feed asked not to be polled before a time still to come."""
        return any(s.next_poll_after and s.next_poll_after > now for s in self.states.values())

    def backing_off(self, now: datetime) -> bool:
        until = self.health.backoff_until
        return until is not None and until > now


@dataclass
class SourceStates:
    """The process's :class:`KnownSource` of each source, by name (O(1) lookups)."""

    known: dict[str, KnownSource] = field(default_factory=dict)

    def get(self, name: str, feeds: tuple[str, ...]) -> KnownSource | None:
        """What is known of ``name``, if its ids were made for these feeds."""
        known = self.known.get(name)
        return known if known is not None and known.feeds == feeds else None

    def put(self, name: str, feeds: tuple[str, ...], snapshot: SourceSnapshot) -> KnownSource:
        known = self.known[name] = KnownSource.of(feeds, snapshot)
        return known

    def forget(self, name: str) -> None:
        """Read it from the database next time (a write of unknown outcome failed)."""
        self.known.pop(name, None)


def after_poll(state: FeedState, poll: FeedPoll) -> FeedState:
    """A feed's state once a poll's outcome is written."""
    if poll.validators is not None:
        v = poll.validators
        state = replace(state, etag=v.etag, last_modified=v.last_modified)
    if not poll.keep_next_poll:
        state = replace(state, next_poll_after=poll.next_poll_after)
    return state


def forgotten(state: FeedState, due_now: bool) -> FeedState:
    """A feed's state once its validators are forgotten (and its bound, ``due_now``)."""
    return FeedState(None, None, None if due_now else state.next_poll_after)
