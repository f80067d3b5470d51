"""The JSON API. Routes are plain ``def``: FastAPI runs them in its thread pool, so database
work never blocks the event loop. Lists answer ``{"items": [...], "next_cursor": ...}``."""

from __future__ import annotations

import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Path, Query, Request, Response

from console.context import Context, CrawlsOff, UnknownSource
from console.serialize import article_json, health, iso, listing_json, run_json
from crawler.config import ConfigError
from crawler.dates import parse_moment
from storage.console import (
    ArticleFilter,
    article_detail,
    list_runs,
    run_with_source,
    search_articles,
)
from storage.daemon_state import daemon_state, is_alive
from storage.sources import source_statuses

router = APIRouter(prefix="/api")

Limit = Annotated[int, Query(ge=1, le=200)]
Cursor = Annotated[str | None, Query(pattern=r"^[1-9]\d{0,17}$")]
Id = Annotated[int, Path(ge=1, le=2**63 - 1)]
Name = Annotated[str | None, Query(max_length=64)]


def context(request: Request) -> Context:
    found: Context = request.app.state.context
    return found


Ctx = Annotated[Context, Depends(context)]


def require_token(
    ctx: Ctx, authorization: Annotated[str | None, Header(max_length=500)] = None
) -> None:
    """POSTs need ``Authorization: Bearer <[http] token>``; with no token set they are off."""
    token = ctx.config().http.token
    if not token:
        raise HTTPException(403, "POST endpoints are off: set [http] token to use them")
    given = (authorization or "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), token.encode()):
        raise HTTPException(401, "a valid bearer token is required", {"WWW-Authenticate": "Bearer"})


def page(items: list[dict[str, Any]], limit: int) -> dict[str, Any]:
    cursor = str(items[-1]["id"]) if len(items) == limit else None
    return {"items": items, "next_cursor": cursor}


@router.get("/sources")
def sources(ctx: Ctx) -> dict[str, Any]:
    """Every configured source: schedule, last run, failure streak, backoff, health."""
    statuses = source_statuses(ctx.db)
    now = datetime.now(UTC)
    items = [
        _source(s.name, s.interval or s.cron, statuses.get(s.name), now)
        for s in ctx.config().sources
    ]
    return {"items": items, "next_cursor": None}


@router.get("/sources/{name}")
def source(name: str, ctx: Ctx) -> dict[str, Any]:
    try:
        configured = ctx.config().source(name)
    except ConfigError:
        raise HTTPException(404, f"unknown source {name!r}") from None
    status = source_statuses(ctx.db).get(name)
    found = _source(name, configured.interval or configured.cron, status, datetime.now(UTC))
    runs = list_runs(ctx.db, source=name, limit=10)
    return {**found, "runs": [run_json(n, r) for n, r in runs]}


def _source(name: str, schedule: str | None, status: Any, now: datetime) -> dict[str, Any]:
    last = status.last_run if status else None
    return {
        "name": name,
        "schedule": schedule,
        "health": health(status, now),
        "last_run": run_json(name, last) if last else None,
        "consecutive_failures": status.consecutive_failures if status else 0,
        "backoff_until": iso(status.backoff_until) if status else None,
        "next_run": iso(status.next_run_at) if status else None,
    }


@router.get("/runs")
def runs(
    ctx: Ctx,
    source: Name = None,
    status: Annotated[str | None, Query(max_length=16)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    before = int(cursor) if cursor is not None else None
    found = list_runs(ctx.db, source=source, status=status, before_id=before, limit=limit)
    return page([run_json(name, run) for name, run in found], limit)


@router.get("/runs/{run_id}")
def run(run_id: Id, ctx: Ctx) -> dict[str, Any]:
    found = run_with_source(ctx.db, run_id)
    if found is None:
        raise HTTPException(404, f"no run {run_id}")
    return run_json(*found)


@router.get("/articles")
def articles(
    ctx: Ctx,
    q: Annotated[str | None, Query(max_length=200)] = None,
    source: Name = None,
    language: Annotated[str | None, Query(max_length=16)] = None,
    since: Annotated[str | None, Query(max_length=40)] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    """Full-text search over title and text (every word must appear), newest first."""
    try:
        moment = parse_moment(since) if since else None
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    before = int(cursor) if cursor is not None else None
    wanted = ArticleFilter(q, source, language, moment, before, limit)
    return page([listing_json(a) for a in search_articles(ctx.db, wanted)], limit)


@router.get("/articles/{article_id}")
def article(article_id: Id, ctx: Ctx) -> dict[str, Any]:
    found = article_detail(ctx.db, article_id)
    if found is None:
        raise HTTPException(404, f"no article {article_id}")
    return article_json(*found)


@router.post("/sources/{name}/crawl", status_code=202, dependencies=[Depends(require_token)])
def crawl_now(name: str, ctx: Ctx, response: Response) -> dict[str, Any]:
    """Run the source now, as a scheduled run; while it runs, the run going is the answer."""
    if ctx.trigger is None:
        raise HTTPException(409, "this process runs no crawls (newsrelay serve): use the daemon's")
    try:
        run_id = ctx.trigger(name)
    except UnknownSource:
        raise HTTPException(404, f"unknown source {name!r}") from None
    except CrawlsOff as exc:
        raise HTTPException(503, str(exc)) from None
    response.headers["Location"] = f"/api/runs/{run_id}"
    return {"run_id": run_id}


def daemon_health(ctx: Context) -> tuple[bool, dict[str, Any]]:
    """The rule of ``newsrelay health``: a daemon with a fresh heartbeat."""
    state = daemon_state(ctx.db)
    alive = is_alive(state, ctx.config().daemon.heartbeat_delta)
    shown: dict[str, Any] = {"healthy": alive, "daemon": None}
    if state is not None:
        shown["daemon"] = {
            "pid": state.pid,
            "host": state.host,
            "version": state.version,
            "started_at": iso(state.started_at),
            "heartbeat_at": iso(state.heartbeat_at),
            "stopped_at": iso(state.stopped_at),
        }
    return alive, shown
