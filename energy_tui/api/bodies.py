"""Request bodies read strictly: a JSON object that names a member twice is refused.

Python's `json` (and so FastAPI) keeps the last of two members with one name, silently:
`{"amount": "1", "amount": "1000"}` placed an order for 1000 kWh. Which one the sender
meant cannot be known (other parsers keep the first), so neither is used: the body is
refused with a problem naming the member (I-JSON, RFC 7493: names MUST be unique).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.routing import APIRoute

# how the refusal is told to problems.invalid_request: this, then the name as JSON
DUPLICATE = "duplicate member "


class _Duplicate(ValueError):
    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


def _unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    found = dict(pairs)
    if len(found) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise _Duplicate(name)
            seen.add(name)
    return found


def duplicated(reason: str) -> str | None:
    """The member a JSON error of this module names twice, or None for any other."""
    if not reason.startswith(DUPLICATE):
        return None
    name = json.loads(reason[len(DUPLICATE) :])
    return name if isinstance(name, str) else None


class StrictJsonRequest(Request):
    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            body = await self.body()
            try:
                self._json = json.loads(body, object_pairs_hook=_unique)
            except _Duplicate as exc:
                text = body.decode("utf-8", "replace")
                quoted = json.dumps(exc.name)
                first = text.find(quoted)
                at = text.find(quoted, first + 1) if first >= 0 else -1
                reason = DUPLICATE + quoted
                raise json.JSONDecodeError(reason, text, max(at, 0)) from None
            except json.JSONDecodeError:
                raise
            except (RecursionError, ValueError) as exc:
                # FastAPI answers these with a bare 400 "There was an error parsing the
                # body": say what is wrong, as for any other body that is not JSON
                raise json.JSONDecodeError(_why_unreadable(exc), "", 0) from None
        return self._json


def _why_unreadable(exc: BaseException) -> str:
    if isinstance(exc, RecursionError):
        return "it is nested too deeply"
    if isinstance(exc, UnicodeDecodeError):
        return f"it is not UTF-8 (byte {exc.start})"
    return "a number in it has too many digits" if "digits" in str(exc) else "unreadable"


class StrictJsonRoute(APIRoute):
    """A route whose JSON body is read by StrictJsonRequest (FastAPI's documented way
    to change how a request is read: a custom APIRoute class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def strict(request: Request) -> Response:
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
