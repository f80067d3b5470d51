"""``newsrelay publish``: deliver what is pending and due to the configured destinations.

Exit codes: 0 nothing left pending or failed, 1 something is (the summary says what and when
it is retried), 2 a usage, config or database error.
"""

from __future__ import annotations

import sys

import click

from crawler.config import ConfigError
from scheduler.delivery_views import publish_summary
from scheduler.state import State, parse_since, user_errors
from storage.deliveries import failed_deliveries, queue_since


@click.command()
@click.option("--destination", "name", default=None, help="Only this destination.")
@click.option(
    "--since",
    default=None,
    help="First queue the articles stored since then (ISO date/time, or an age like 2d) that "
    "the destination has not had; for a destination added later.",
)
@click.option("--dry-run", is_flag=True, help="Show what would be delivered; send nothing.")
@click.option(
    "--retry-failed", is_flag=True, help="Put deliveries that failed for good back in the queue."
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
@user_errors
def publish(
    state: State,
    name: str | None,
    since: str | None,
    dry_run: bool,
    retry_failed: bool,
    as_json: bool,
) -> None:
    """Deliver pending articles to the destinations, in the order they were stored."""
    from publisher.run import publish as publish_pass  # httpx: only this command needs it

    config = state.config
    if not config.destinations:
        raise ConfigError(f"{config.path}: no [[destinations]] configured: nothing to publish to")
    chosen = [config.destination(name)] if name else list(config.destinations)
    moment = parse_since(since)
    db = state.database()
    try:
        queued = {}
        if moment is not None:
            for target in chosen:
                queued[target.name] = queue_since(
                    db, target.name, target.sources, moment, dry_run=dry_run
                )
        summaries = publish_pass(
            config, db, destination=name, dry_run=dry_run, again_failed=retry_failed
        )
        failures = {s.name: failed_deliveries(db, s.name) for s in summaries if s.counts.failed}
    finally:
        db.dispose()
    publish_summary(summaries, queued, failures, dry_run=dry_run, as_json=as_json)
    sys.exit(0 if all(s.settled for s in summaries) else 1)
