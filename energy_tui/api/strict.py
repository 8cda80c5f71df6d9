"""Requests read strictly: what the client sent is used as sent, or refused.

A JSON object that names a member twice is refused. Python's `json` (and so FastAPI)
keeps the last of two members with one name, silently: `{"amount": "1", "amount":
"1000"}` placed an order for 1000 kWh. Which one the sender meant cannot be known
(other parsers keep the first), so neither is used: the body is refused with a problem
naming the member (I-JSON, RFC 7493: names MUST be unique).

A query parameter the endpoint does not take, or one given twice, is refused too:
FastAPI ignores the first and keeps the last of the second, so `DELETE
/api/v1/orders?sdie=buy` (a typo of `side`) cancelled the sells as well, and
`?side=buy&side=sell` the sells only.

A whole-number query parameter is taken only in the digits 0-9 (a minus sign before
them, for the range check to refuse): Pydantic's lax mode, which FastAPI uses for query
strings (its strict mode refuses every string), reads `1_0` as 10 (PEP 515 underscores),
and also takes ` 10 `, `+10` and `10.0`.
"""

from __future__ import annotations

import json
import re
import types
import typing
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from energy_tui.errors import ValidationError

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


def _query_names(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return frozenset(names)


def _whole_number_names(dependant: Dependant) -> frozenset[str]:
    names = {param.alias for param in dependant.query_params if _is_int(param.field_info)}
    for sub in dependant.dependencies:
        names |= _whole_number_names(sub)
    return frozenset(names)


def _is_int(field: Any) -> bool:
    """`int` or `int | None` (bool, a subclass of int, is not a whole number here)."""
    annotation = field.annotation
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return int in typing.get_args(annotation)
    return annotation is int


_WHOLE_NUMBER = re.compile(r"-?[0-9]+", re.ASCII)


def check_query(
    request: Request, known: frozenset[str], whole: frozenset[str] = frozenset()
) -> None:
    """ValidationError for a query parameter not in `known`, or given twice, or in
    `whole` and not written in the digits 0-9."""
    params = request.query_params
    for name in params:
        if name not in known:
            takes = ", ".join(sorted(known)) if known else "none"
            raise ValidationError(
                f"unknown query parameter {name[:40]!r}: this endpoint takes {takes}",
                field=name[:40],
            )
        if len(params.getlist(name)) > 1:
            raise ValidationError(
                f"query parameter {name!r} is given more than once: give it once", field=name
            )
        if name in whole and _WHOLE_NUMBER.fullmatch(params[name]) is None:
            raise ValidationError(
                f"query parameter {name!r} takes a whole number written in the digits 0-9 "
                f"(like 10); {params[name][:30]!r} is not one",
                field=name,
            )


class StrictRoute(APIRoute):
    """A route whose query is checked (check_query) and whose JSON body is read by
    StrictJsonRequest (FastAPI's documented way to change how a request is read: a
    custom APIRoute class)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        known = _query_names(self.dependant)
        whole = _whole_number_names(self.dependant)

        async def strict(request: Request) -> Response:
            if request.scope.get("query_string"):
                check_query(request, known, whole)
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict
