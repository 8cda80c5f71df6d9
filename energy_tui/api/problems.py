"""Errors as RFC 9457 problem details (`application/problem+json`), carrying the
services' own messages.

Status codes: bad input 422 (with the field), not found 404, a duplicate or a state
that forbids the action 409, not authenticated 401, not allowed 403, too many
requests 429, a busy market or database 503 with `Retry-After` (nothing was written
and the same request may well work a moment later: a temporary condition of the
server, not a conflict with the resource), database down 503.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from energy_tui.api import strict
from energy_tui.errors import (
    AuthError,
    ConfigError,
    Conflict,
    DatabaseBusy,
    DatabaseFull,
    DatabaseUnavailable,
    EnergyError,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    ValidationError,
)
from energy_tui.redact import without_secrets
from energy_tui.services.market import guard
from energy_tui.services.rate_limits import TooManyRequests

log = logging.getLogger("energy_tui.api")
PROBLEM = "application/problem+json"
# The methods named back as sent, in answers, the access log and the metrics; any token
# is a method to HTTP, and another one is whatever the client typed (a key, perhaps).
METHODS = frozenset(("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"))
_TITLES = {
    400: "Bad request",
    401: "Not authenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    422: "Invalid input",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


class ProblemResponse(JSONResponse):
    """A problem document with any API key in it cut to its prefix and any login token
    left out: a detail may repeat what the client sent (a path, a field's name, a value
    a service names back) and that may be a secret, pasted where it does not belong."""

    media_type = PROBLEM

    def render(self, content: Any) -> bytes:
        return without_secrets(super().render(content).decode("utf-8")).encode("utf-8")


class StateConflict(ValidationError):
    """The request is well formed but the thing is in a state that forbids it (an
    order already closed, a client_order_id reused for another order): 409."""


def problem(
    status: int,
    detail: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if field is not None:
        body["field"] = field
    body.update(extra)
    return ProblemResponse(body, status_code=status, headers=headers)


_CLI_FLAGS = ("--max-price", "--min-price")


def status_of(exc: EnergyError) -> int:
    if isinstance(exc, TooManyRequests):
        return 429
    if isinstance(exc, AuthError):
        return 401
    if isinstance(exc, PermissionDenied):
        return 403
    if isinstance(exc, NotFound):
        return 404
    if isinstance(exc, Conflict | StateConflict | LimitExceeded):
        return 409
    if isinstance(exc, ValidationError):
        return 422
    if isinstance(exc, DatabaseBusy | DatabaseUnavailable | DatabaseFull):
        return 503
    if isinstance(exc, ConfigError):
        return 500
    return 500


def from_error(exc: EnergyError) -> JSONResponse:
    if isinstance(exc, guard.Unconfirmed):  # its words are the CLI's (--yes)
        detail = str(exc).replace(
            "Add --yes to place it anyway", 'Send "confirm": true to go ahead anyway'
        )
        return problem(422, detail, field="confirm")
    status = status_of(exc)
    detail = str(exc)
    for flag in _CLI_FLAGS:  # the services' hints name the CLI's flags for the price
        detail = detail.replace(f"({flag}, ", '("price", ')
    headers: dict[str, str] = {}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, DatabaseBusy):
        headers["Retry-After"] = "1"
    if isinstance(exc, TooManyRequests):
        headers["Retry-After"] = str(exc.retry_after)
    field = getattr(exc, "field", None)
    if status >= 500:
        log.warning("%s: %s", type(exc).__name__, exc)
    return problem(status, detail, field=field, headers=headers or None)


async def energy_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, EnergyError)
    return from_error(exc)


async def database_error(request: Request, exc: Exception) -> JSONResponse:
    log.error("database error: %s", type(exc).__name__, exc_info=exc)
    return problem(503, f"the database stopped answering ({type(exc).__name__})")


async def unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.error("unexpected error on %s", request.url.path, exc_info=exc)
    return problem(500, f"unexpected error ({type(exc).__name__}); details in the server log")


async def invalid_request(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own validation (a missing field, a number for a string): the first
    error's field and message, all of them under `errors`."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        {"field": _field(error), "message": _message(error, request)} for error in exc.errors()
    ]
    first = errors[0] if errors else {"field": None, "message": "invalid request"}
    detail = f"{first['field']}: {first['message']}" if first["field"] else str(first["message"])
    return problem(422, detail, field=first["field"], errors=errors)


_JSON_BODY = "send it with `Content-Type: application/json`"


def _field(error: Any) -> str | None:
    if error.get("type") == "json_invalid":  # its loc is ("body", position): no field
        return strict.duplicated((error.get("ctx") or {}).get("error", ""))
    loc = error.get("loc", ())
    parts = [str(part) for part in loc if part not in ("body", "query", "path", "header")]
    return ".".join(parts) or None


def _message(error: Any, request: Request) -> str:
    """Pydantic's words, but for the two ways a whole body goes wrong, which it names
    with no field: not JSON at all, or JSON that is not an object."""
    kind, loc = error.get("type"), tuple(error.get("loc", ()))
    if kind == "json_invalid":
        position = loc[1] if len(loc) > 1 else "?"
        why = (error.get("ctx") or {}).get("error", "")
        name = strict.duplicated(why)
        if name is not None:
            return (
                f"the request body gives {name!r} twice (at character {position}): "
                "give each field once"
            )
        return f"the request body is not valid JSON (at character {position}: {why})"
    if loc == ("body",) and kind in ("model_attributes_type", "dict_type"):
        sent = request.headers.get("content-type", "none")
        if not sent.startswith("application/json"):
            return (
                f"the request body must be a JSON object, and its Content-Type was {sent}: "
                f"{_JSON_BODY}"
            )
        return "the request body must be a JSON object ({...})"
    given = error.get("input")
    if kind == "string_type" and isinstance(given, int | float) and not isinstance(given, bool):
        return _NUMBER_NOT_STRING
    return str(error.get("msg", ""))


# A JSON number for an amount may be a binary float already (0.1 + 0.2 arrives as
# 0.30000000000000004): never taken, and the refusal says what to send instead of
# Pydantic's "Input should be a valid string".
_NUMBER_NOT_STRING = (
    'a JSON number is not taken here: send the value as a string, in quotes ("12.5"); '
    "amounts and prices are exact decimals, and a number may already be rounded"
)


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _TITLES.get(exc.status_code, "Error")
    if exc.status_code == 404 and detail == "Not Found":  # no route, not a missing thing
        detail = f"no endpoint {request.url.path}: the endpoints are listed at /docs"
    elif exc.status_code == 405:
        method = request.method if request.method in METHODS else "this method"
        detail = f"{method} is not an endpoint of {request.url.path} (see /docs)"
    return problem(exc.status_code, detail, headers=dict(exc.headers or {}) or None)
