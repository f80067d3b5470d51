"""``newsrelay``: the command line. Thin: it parses, calls the packages below, reports.

Exit codes: 0 success, 1 some source failed, 2 a usage, config or database error (one line on
stderr, never a traceback).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable
from pathlib import Path

import click

from crawler.config import Config, ConfigError
from crawler.fetch_options import mask_fetch_secrets
from crawler.services import open_services, warm_for
from crawler.source_run import CrawlOptions
from crawler.urls import mask_secrets
from scheduler import __version__, cluster_cli, prune_cli, publish_cli, serve_cli, views
from scheduler.delivery_views import deliveries_json
from scheduler.logs import LEVELS, setup_logging
from scheduler.reextract_cli import reextract
from scheduler.state import State, parse_since, user_errors
from storage.daemon_state import daemon_state, is_alive
from storage.db import Database, StorageError, open_database
from storage.deliveries import delivery_counts, failed_deliveries
from storage.export import FORMATS, write_export
from storage.publishing import iter_articles, publishing
from storage.records import Selection, StoredArticle
from storage.sources import source_statuses


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="newsrelay")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="Config file (default: $NEWSRELAY_CONFIG, else ./newsrelay.toml).",
)
@click.option(
    "--log-format", type=click.Choice(["text", "json"]), default="text", show_default=True
)
@click.option(
    "--log-level",
    type=click.Choice(LEVELS, case_sensitive=False),
    default="info",
    show_default=True,
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write logs to this file (rotated at 10 MB, 5 kept) instead of stderr.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    log_format: str,
    log_level: str,
    log_file: Path | None,
) -> None:
    """newsrelay: collect news articles from feeds into a database, ready to republish."""
    setup_logging(log_level.lower(), log_format, log_file)
    ctx.obj = State(config_path)


# -- crawl ----------------------------------------------------------------------------------
@cli.command()
@click.argument("names", nargs=-1)
@click.option("--all", "all_sources", is_flag=True, help="Crawl every configured source.")
@click.option("--refetch", is_flag=True, help="Fetch feeds and pages even when already stored.")
@click.option(
    "--due-only",
    is_flag=True,
    help="Skip sources backing off after failures and feeds that asked not to be polled yet "
    "(TTL, Cache-Control max-age, Retry-After), as the daemon does.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("--enqueue", is_flag=True, help="Send the runs to the cluster's workers.")
@click.option("--no-wait", is_flag=True, help="With --enqueue: return once the runs are sent.")
@click.pass_obj
@user_errors
def crawl(
    state: State,
    names: tuple[str, ...],
    all_sources: bool,
    refetch: bool,
    due_only: bool,
    as_json: bool,
    enqueue: bool,
    no_wait: bool,
) -> None:
    """Crawl the named sources (or --all) now, in the foreground (--enqueue: on the cluster)."""
    if bool(names) == all_sources:
        raise click.UsageError("name one or more sources, or give --all")
    if no_wait and not enqueue:
        raise click.UsageError("--no-wait goes with --enqueue")
    config = state.config
    sources = list(config.sources) if all_sources else [config.source(n) for n in names]
    if not sources:
        raise click.UsageError("the config has no sources")
    if enqueue:
        options = CrawlOptions(refetch=refetch, due_only=due_only)
        sys.exit(cluster_cli.enqueue(config, sources, options, wait=not no_wait, as_json=as_json))
    db = state.database()
    try:
        # Before Scrapy is imported or any thread started: see crawler.services.
        with open_services(config, db) as services:
            warm_for(services, sources, refetch=refetch)
            from crawler.crawls import run_crawls

            with views.crawl_progress([s.name for s in sources]) as on_progress:
                results = run_crawls(
                    config,
                    services,
                    sources,
                    options=CrawlOptions(refetch=refetch, due_only=due_only),
                    on_progress=on_progress,
                )
    finally:
        db.dispose()
    views.crawl_summary(results, as_json)
    sys.exit(0 if all(r.status in ("ok", "skipped") for r in results) else 1)


# -- the daemon -----------------------------------------------------------------------------
@cli.command()
@click.option(
    "--once", is_flag=True, help="Crawl every source once, as the daemon would, and exit."
)
@click.pass_obj
@user_errors
def run(state: State, once: bool) -> None:
    """Run the daemon: crawl each source on its schedule until SIGTERM or SIGINT.

    SIGHUP reloads the config. One daemon per database: a second one refuses to start.
    """
    config = state.config
    db = state.database()
    from scheduler.service import Daemon

    try:
        with open_services(config, db) as services:
            code = Daemon(config, services).run(once=once)
    finally:
        db.dispose()
    sys.exit(code)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
@user_errors
def status(state: State, as_json: bool) -> None:
    """Show the daemon and, per source, its last run, failures and next run."""
    config = state.config
    db = open_database(config.database.url, create=False)
    try:
        daemon = daemon_state(db)
        statuses = source_statuses(db)
        cluster = cluster_cli.cluster_status(config, db) if db.dialect == "postgresql" else None
        counts = delivery_counts(db)
        failures = {name: failed_deliveries(db, name) for name, c in counts.items() if c.failed}
        deliveries = deliveries_json(config, counts, failures)
    finally:
        db.dispose()
    alive = is_alive(daemon, config.daemon.heartbeat_delta)
    views.status_view(config, daemon, alive, statuses, as_json, cluster, deliveries)


@cli.command()
@click.option(
    "--role",
    type=click.Choice(["daemon", "scheduler", "worker"]),
    default="daemon",
    show_default=True,
    help="scheduler: this host's is the leader or a standby; worker: one on this host beats.",
)
@click.pass_obj
def health(state: State, role: str) -> None:
    """Exit 0 while a daemon (or this host's cluster role) runs with a fresh heartbeat, else 1
    (for Docker HEALTHCHECK)."""
    try:
        config = state.config
        db = open_database(config.database.url, create=False)
        try:
            if role == "daemon":
                daemon = daemon_state(db)
                alive = is_alive(daemon, config.daemon.heartbeat_delta)
                line = views.daemon_line(daemon, alive)
            else:
                alive, line = cluster_cli.role_health(config, db, role)
        finally:
            db.dispose()
    except (ConfigError, StorageError) as exc:
        click.echo(f"unhealthy: {exc}")
        sys.exit(1)
    click.echo(("healthy: " if alive else "unhealthy: ") + line)
    sys.exit(0 if alive else 1)


# -- export ---------------------------------------------------------------------------------
@cli.command()
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="jsonl", show_default=True)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write to this file (atomically) instead of stdout.",
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write one file per article into this directory (stable names).",
)
@click.option("--source", default=None, help="Only this source's articles.")
@click.option(
    "--since",
    default=None,
    metavar="WHEN",
    help="Only articles fetched since WHEN: an ISO date/time or an age like 6h, 2d.",
)
@click.option("--unpublished", is_flag=True, help="Only articles not yet marked published.")
@click.option(
    "--mark-published",
    is_flag=True,
    help="Mark what is exported as published, in the same transaction as the read.",
)
@click.pass_obj
@user_errors
def export(
    state: State,
    fmt: str,
    output: Path | None,
    output_dir: Path | None,
    source: str | None,
    since: str | None,
    unpublished: bool,
    mark_published: bool,
) -> None:
    """Export stored articles for republishing."""
    if output is not None and output_dir is not None:
        raise click.UsageError("give --output or --output-dir, not both")
    if output_dir is not None and fmt == "atom":
        raise click.UsageError("an atom export is one feed: use --output")
    config = state.config
    if source is not None:
        config.source(source)
    selection = Selection(source, parse_since(since), unpublished or mark_published)
    db = state.database()
    try:
        if mark_published:
            with publishing(db, selection) as articles:
                count = _export(fmt, articles, output, output_dir, config)
        else:
            count = _export(fmt, iter_articles(db, selection), output, output_dir, config)
    finally:
        db.dispose()
    click.echo(f"exported {count} articles", err=True)


def _export(
    fmt: str,
    articles: Iterable[StoredArticle],
    output: Path | None,
    output_dir: Path | None,
    config: Config,
) -> int:
    return write_export(
        fmt,
        articles,
        output=output,
        output_dir=output_dir,
        header=config.export.header,
        feed_title=config.export.feed_title,
        feed_id=config.export.feed_id,
    )


# -- extract --------------------------------------------------------------------------------
@cli.command()
@click.argument("target", metavar="URL|FILE")
@click.option(
    "--source",
    default=None,
    help="Apply this source's [sources.extract] rules and rewrites, and judge its filters.",
)
@click.option("--url", "page_url", default=None, help="For a FILE: the address it came from.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.pass_obj
@user_errors
def extract(
    state: State, target: str, source: str | None, page_url: str | None, as_json: bool
) -> None:
    """Show what the page pipeline makes of one page (with a source's rules): the tool for
    writing and checking a site's extraction rules."""
    from crawler.editorial import editing_for
    from crawler.one_page import PageUnavailable, extract_one
    from crawler.templates import stored_boilerplate

    config = state.config_or_defaults()
    chosen = config.source(source) if source else None
    editing = editing_for(config.filters, chosen)
    template = None
    if chosen is not None and chosen.learn_template:  # what its crawls learnt, if stored
        template = stored_boilerplate(config.database.url, chosen.name)
    try:
        rules = chosen.extract if chosen else None
        url, page = extract_one(
            config, target, page_url=page_url, rules=rules, editing=editing, template=template
        )
    except PageUnavailable as exc:
        if not target.startswith(("http://", "https://")):
            raise click.BadParameter(str(exc)) from None
        click.echo(f"newsrelay: error: {exc}", err=True)
        sys.exit(1)
    views.extraction_view(url, page, as_json)
    if not page.text:
        sys.exit(1)


# -- sources, config, db --------------------------------------------------------------------
@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@click.pass_obj
@user_errors
def sources(state: State, as_json: bool) -> None:
    """List the configured sources."""
    views.sources_view(state.config, as_json)


@cli.command(name="config")
@click.pass_obj
@user_errors
def show_config(state: State) -> None:
    """Print the effective configuration (defaults filled in) as JSON."""
    data = state.config.model_dump(mode="json")
    if data["http"].get("token"):
        data["http"]["token"] = "***"
    for destination in data.get("destinations", []):
        for key in ("secret", "password"):
            if destination.get(key):
                destination[key] = "***"
    data["sources"] = [mask_fetch_secrets(source) for source in data["sources"]]
    shown = json.dumps({"path": str(state.config.path), **data}, indent=2)
    click.echo(mask_secrets(shown))


@cli.group()
def db() -> None:
    """Database schema."""


@db.command()
@click.pass_obj
@user_errors
def upgrade(state: State) -> None:
    """Apply pending schema migrations."""

    database = Database(state.config.database.url)
    try:
        before = database.current_revision()
        database.upgrade()
        click.echo(f"schema: {before or 'empty'} -> {database.current_revision()}")
    except Exception as exc:  # driver errors: report in one line
        raise StorageError(f"upgrade failed: {exc}") from None
    finally:
        database.dispose()


cli.add_command(cluster_cli.scheduler)
cli.add_command(publish_cli.publish)
cli.add_command(prune_cli.prune)
cli.add_command(serve_cli.serve)
cli.add_command(reextract)
cli.add_command(cluster_cli.worker)


def main() -> None:
    cli(prog_name="newsrelay")


if __name__ == "__main__":
    main()
