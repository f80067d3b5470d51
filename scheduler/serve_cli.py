"""``newsrelay serve``: the console alone against a database (beside a cluster, or read-only
use); ``newsrelay run`` serves the same app itself when ``[http] listen`` is set."""

from __future__ import annotations

import click
from pydantic import ValidationError

from crawler.config import ConfigError
from crawler.http_config import HttpConfig
from scheduler.cluster_cli import cluster_trigger
from scheduler.state import State, user_errors
from storage.db import open_database


@click.command()
@click.option("--listen", default=None, help="HOST:PORT to serve on (default: [http] listen).")
@click.pass_obj
@user_errors
def serve(state: State, listen: str | None) -> None:
    """Serve the console (API, metrics, page) for the configured database, until SIGTERM.

    It runs no crawls itself: beside a cluster whose workers beat on this database, "crawl
    now" sends the run to them; otherwise it answers 409 (ask the daemon's console)."""
    # Imported here: FastAPI and uvicorn cost every other command 0.15 s at start.
    from console.app import create_app
    from console.context import Context
    from console.server import bind, serve_forever

    config = state.config
    try:
        http = config.http if listen is None else config.http.model_copy(update={"listen": listen})
        HttpConfig.model_validate(http.model_dump())
    except ValidationError as exc:
        message = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"--listen {listen!r}: {message}") from None
    if not http.listen:
        raise ConfigError("[http] listen is empty: nothing to serve (or pass --listen HOST:PORT)")
    db = open_database(config.database.url, create=False)
    try:
        sock = bind(http)
        trigger = cluster_trigger(config, db)  # workers beat here: "crawl now" goes to them
        serve_forever(create_app(Context(lambda: config, db, trigger)), sock)
    finally:
        db.dispose()
