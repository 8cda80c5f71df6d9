"""The application factory: `create_app(settings)` -> a FastAPI app over the services."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated, Any

import peewee
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.routing import BaseRoute

from energy_tui import __version__
from energy_tui.api import (
    problems,
    routes_account,
    routes_admin,
    routes_auth,
    routes_market,
    routes_orders,
)
from energy_tui.api.context import Api
from energy_tui.api.metrics import CONTENT_TYPE
from energy_tui.api.middleware import Guard, access_log
from energy_tui.api.schemas import ProblemOut
from energy_tui.api.stream import Hub
from energy_tui.api.strict import StrictRoute
from energy_tui.config import Settings, load_settings
from energy_tui.db import migrations
from energy_tui.errors import EnergyError
from energy_tui.runtime import Runtime, bind, ensure_schema
from energy_tui.services.permissions import Action

log = logging.getLogger("energy_tui.api")

DESCRIPTION = """\
The energy market over HTTP: the same services as the CLI and the app.

Authenticate with an API key (`Authorization: Bearer etk_...` or `X-API-Key: etk_...`),
made with `energy-tui key create`, or with a login token from `POST /api/v1/auth/login`.
Amounts are exact decimal strings, times ISO 8601 UTC. Errors are RFC 9457 problem
details (`application/problem+json`) with the reason in `detail` and the bad field in
`field`. Lists are pages: pass `next_cursor` back as `cursor`. A body field or query
parameter given twice, or one the endpoint does not take, is refused (422), never
guessed at.
"""

# Declared in the OpenAPI document only (and the "Authorize" button of /docs): the check
# itself is `Api.call`, in the request's database connection. Not as FastAPI security
# dependencies, which would run (and cost) on every request without checking anything.
_SCHEMES = {
    "APIKeyHeader": {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": "an API key",
    },
    "HTTPBearer": {
        "type": "http",
        "scheme": "bearer",
        "description": "an API key or a login token",
    },
}
_SECURITY: list[dict[str, list[str]]] = [{"APIKeyHeader": []}, {"HTTPBearer": []}]
_PROBLEMS: dict[int | str, dict[str, object]] = {
    code: {"model": ProblemOut, "content": {problems.PROBLEM: {}}, "description": text}
    for code, text in (
        (401, "not authenticated (no, bad, revoked or expired key or token)"),
        (403, "the key's permissions or the user's role do not allow it"),
        (422, "bad input: `field` names it"),
        (429, "too many requests: see Retry-After"),
        (503, "the database is down, or busy (see Retry-After)"),
    )
}


def create_app(settings: Settings | None = None, runtime: Runtime | None = None) -> FastAPI:
    """The application. `runtime`: a database bound already (tests); otherwise the
    settings' database is bound and its schema checked (a SQLite file is migrated)."""
    if runtime is None:
        runtime = bind(settings or load_settings())
        with runtime.database.connection_context():
            ensure_schema(runtime)
    api = Api(runtime)
    metrics = api.metrics
    hub = Hub(api.database, metrics)

    app = FastAPI(
        title="energy-tui API",
        version=__version__,
        description=DESCRIPTION,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
        # FastAPI's native OpenTelemetry off: the API's metrics are its Prometheus
        # /metrics (and its access log); left on, it looked up the global tracer, meter
        # and logger providers on every request (about 1% of a placement's CPU)
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.api = api
    app.state.hub = hub
    secured = [
        routes_market.router,
        routes_orders.router,
        routes_account.router,
        routes_admin.router,
    ]
    for router in secured:
        app.include_router(router, responses=_PROBLEMS)
    app.include_router(routes_auth.router, responses=_PROBLEMS)

    app.add_exception_handler(EnergyError, problems.energy_error)
    app.add_exception_handler(RequestValidationError, problems.invalid_request)
    app.add_exception_handler(HTTPException, problems.http_error)
    app.add_exception_handler(peewee.OperationalError, problems.database_error)
    app.add_exception_handler(peewee.InterfaceError, problems.database_error)
    app.add_exception_handler(Exception, problems.unexpected)

    @app.get("/health", tags=["health"], summary="The server is alive")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/health/ready",
        tags=["health"],
        summary="The database answers and its schema is current",
        responses={503: {"model": ProblemOut}},
    )
    async def ready() -> JSONResponse:
        def check() -> tuple[int, int]:
            state = migrations.status(api.database.obj)
            return state.current, len(state.pending)

        current, pending = await api.public(check)
        if pending:
            return problems.problem(
                503,
                f"the database schema is at version {current} with {pending} migration "
                "step(s) pending: run `energy-tui db migrate`",
            )
        return JSONResponse({"status": "ready", "schema_version": current})

    @app.get("/metrics", tags=["health"], summary="Prometheus metrics", response_class=Response)
    async def prometheus() -> Response:
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def stream(
        request: Request,
        max_events: Annotated[int | None, Query(ge=1, le=1_000_000)] = None,
    ) -> StreamingResponse:
        async def recheck() -> None:  # at each keep-alive: costs no request allowance
            await api.call(request, lambda actor: None, Action.READ_MARKET, limited=False)

        await api.call(request, lambda actor: None, Action.READ_MARKET)
        return StreamingResponse(
            hub.events(max_events, recheck),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
        )

    app.router.add_api_route(
        "/api/v1/stream",
        stream,
        methods=["GET"],
        tags=["market"],
        summary="Live market changes (Server-Sent Events)",
        description="First a `snapshot` event (the book), then `book` and `trade` events, "
        "each with a rising `seq`; a `resync` event (a fresh snapshot) when this client "
        "fell behind. `max_events` ends the stream after that many events.",
        response_class=StreamingResponse,
        responses={200: {"content": {"text/event-stream": {}}}, **_PROBLEMS},
        route_class_override=StrictRoute,  # its query read strictly, as every endpoint's
    )
    _declare_security(app, [route for router in secured for route in router.routes], stream)

    settings = runtime.settings
    app.add_middleware(
        Guard,
        max_body=settings.api_max_body_bytes,
        metrics=metrics,
        log=access_log(),
    )
    return app


def _declare_security(app: FastAPI, routes: list[BaseRoute], stream: Callable[..., Any]) -> None:
    """The document's security schemes, and each secured operation's `security`."""
    secured = {
        (route.path, method.lower())
        for route in routes
        if isinstance(route, APIRoute)
        for method in route.methods or ()
    }
    secured |= {
        (r.path, "get") for r in app.routes if isinstance(r, APIRoute) and r.endpoint is stream
    }
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is not None:
            return app.openapi_schema
        document = build()
        document.setdefault("components", {})["securitySchemes"] = _SCHEMES
        for path, operations in document.get("paths", {}).items():
            for method, operation in operations.items():
                if (path, method) in secured:
                    operation["security"] = _SECURITY
        return document

    app.openapi = openapi  # type: ignore[method-assign]
