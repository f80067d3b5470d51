"""The console's ASGI app: the API, ``/healthz``, ``/metrics``, the page, ``/openapi.json``."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware

from console import api, page
from console.context import Context
from console.metrics import exposition, stored_registry

LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def create_app(context: Context) -> FastAPI:
    app = FastAPI(
        title="newsrelay",
        version=_version(),
        description="The operator's console of a newsrelay daemon or database.",
        docs_url=None,
        redoc_url=None,
    )
    app.state.context = context
    http = context.config().http
    host = http.listen.rpartition(":")[0]
    if host in LOOPBACK:  # a page elsewhere must not reach it by renaming itself (rebinding)
        hosts = sorted({*LOOPBACK, host, *http.allowed_hosts})
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=hosts)
    stored = stored_registry(context)
    app.include_router(api.router)
    app.include_router(page.router)

    @app.get("/healthz")
    def healthz() -> JSONResponse:
        """200 while a daemon runs on this database with a fresh heartbeat, else 503."""
        alive, shown = api.daemon_health(context)
        return JSONResponse(shown, status_code=200 if alive else 503)

    @app.get("/metrics", response_class=Response)
    def metrics() -> Response:
        """Prometheus text format."""
        return Response(exposition(stored), media_type="text/plain; version=0.0.4; charset=utf-8")

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> JSONResponse:
        return JSONResponse({"error": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def bad_request(_request: Request, exc: RequestValidationError) -> JSONResponse:
        first: dict[str, Any] = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()))
        return JSONResponse({"error": f"{where}: {first.get('msg', 'invalid')}"}, 422)

    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("newsrelay")
    except PackageNotFoundError:  # pragma: no cover - run from a checkout without install
        return "0"
