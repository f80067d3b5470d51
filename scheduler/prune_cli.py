"""``newsrelay prune``: what ``storage.keep_articles`` and ``storage.keep_dedup_keys`` no
longer keep, deleted now (the daemon does it hourly), or with ``--dry-run`` only counted."""

from __future__ import annotations

from datetime import timedelta

import click

from scheduler.pruning import retention_of
from scheduler.state import State, user_errors
from storage.retention import PruneReport
from storage.retention import prune as prune_now


@click.command()
@click.option("--dry-run", is_flag=True, help="Show what would be deleted; delete nothing.")
@click.pass_obj
@user_errors
def prune(state: State, dry_run: bool) -> None:
    """Delete articles older than storage.keep_articles, and expired dedup keys."""
    config = state.config
    db = state.database()
    try:
        report = prune_now(db, retention_of(config), dry_run=dry_run)
    finally:
        db.dispose()
    storage = config.storage
    click.echo(_summary(report, storage.keep_articles_delta, storage.keep_dedup_keys_delta))


def _summary(
    report: PruneReport, keep_articles: timedelta | None, keep_keys: timedelta | None
) -> str:
    """A few lines: what was (or would be) deleted, and under which setting."""
    verb = "would delete" if report.dry_run else "deleted"
    kept = "kept for ever" if keep_articles is None else f"stored over {_days(keep_articles)} ago"
    keys = "kept for ever" if keep_keys is None else f"{_days(keep_keys)} after deletion"
    lines = [
        f"articles ({kept}): {verb} {report.articles}, with {report.copies} copies, "
        f"{report.deliveries} deliveries and {report.images} image files",
        f"dedup keys of deleted articles ({keys}): {verb} {report.tombstones_expired}",
        f"raw pages past storage.keep_raw: {verb} {report.raw_pages}",
    ]
    if not report.dry_run:
        lines.append(f"in {report.batches} batches, a transaction each")
    return "\n".join(lines)


def _days(delta: timedelta) -> str:
    """``90d``, or ``36h``, or ``90s`` when it is no whole number of days (or hours)."""
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"
