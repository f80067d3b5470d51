"""``newsrelay reextract``: the kept raw pages extracted again with the current rules."""

from __future__ import annotations

import click

from scheduler.state import State, parse_since, user_errors


@click.command()
@click.option("--source", default=None, help="Only this source's pages.")
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="Only pages fetched since WHEN: an ISO date/time or an age like 6h, 2d.",
)
@click.pass_obj
@user_errors
def reextract(state: State, source: str | None, since: str | None) -> None:
    """Extract the kept raw pages again with the current rules (extract, rewrites,
    template), without fetching them; store what changed as new revisions."""
    from crawler.reextract import reextract as run_reextract

    config = state.config
    if source is not None:
        config.source(source)
    moment = parse_since(since)
    db = state.database()
    try:
        done = run_reextract(config, db, source, moment)
    finally:
        db.dispose()
    click.echo(
        f"pages {done.pages}, changed {done.changed}, unchanged {done.unchanged}, "
        f"without text {done.no_text}; raw pages deleted (older than storage.keep_raw): "
        f"{done.pruned}"
    )
