"""Operators and admins: /api/v1/prosumers, /users, /keys, /audit."""

from __future__ import annotations

from typing import Annotated, TypeVar

from fastapi import APIRouter, Path, Query, Request

from energy_tui import clock
from energy_tui.api.routes_account import record_readings
from energy_tui.api.routes_market import api_of
from energy_tui.api.schemas import (
    AmountIn,
    AuditOut,
    BalancesOut,
    CreatedKeyOut,
    KeyIn,
    KeyOut,
    Page,
    ProsumerIn,
    ReadingsIn,
    ReadingsOut,
    RevokedKeyOut,
    RoleIn,
    UserIn,
    UserOut,
    decode_cursor,
    encode_cursor,
)
from energy_tui.api.strict import StrictRoute
from energy_tui.errors import ValidationError
from energy_tui.services import audit, keys, prosumers, users
from energy_tui.services.context import Actor
from energy_tui.services.permissions import Action

T = TypeVar("T")
router = APIRouter(prefix="/api/v1", tags=["operators"], route_class=StrictRoute)
Address = Annotated[str, Path(max_length=200)]
Username = Annotated[str, Path(max_length=200)]


def _page(items: list[T], kind: str, skip: int, limit: int) -> tuple[list[T], str | None]:
    shown = items[skip : skip + limit]
    more = len(items) > skip + limit
    return shown, encode_cursor(kind, skip + limit) if more else None


# --- prosumers ---------------------------------------------------------------------------


@router.post("/prosumers", response_model=BalancesOut, status_code=201, summary="Add a prosumer")
async def add_prosumer(request: Request, body: ProsumerIn) -> BalancesOut:
    return await api_of(request).call(
        request,
        lambda actor: BalancesOut.of(
            prosumers.add_prosumer(actor, body.address, body.name, body.kind)
        ),
    )


@router.get("/prosumers", response_model=Page[BalancesOut], summary="Every prosumer")
async def list_prosumers(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Page[BalancesOut]:
    def work(actor: Actor) -> Page[BalancesOut]:
        shown, after = _page(
            prosumers.list_prosumers(), "prosumer", decode_cursor(cursor, "prosumer") or 0, limit
        )
        return Page[BalancesOut](items=[BalancesOut.of(b) for b in shown], next_cursor=after)

    return await api_of(request).call(request, work, Action.MANAGE_PROSUMERS)


@router.post("/prosumers/{address}/deposit", response_model=BalancesOut, summary="Deposit WATT")
async def deposit(request: Request, address: Address, body: AmountIn) -> BalancesOut:
    return await api_of(request).call(
        request, lambda actor: BalancesOut.of(prosumers.deposit(actor, address, body.amount))
    )


@router.post("/prosumers/{address}/withdraw", response_model=BalancesOut, summary="Withdraw WATT")
async def withdraw(request: Request, address: Address, body: AmountIn) -> BalancesOut:
    return await api_of(request).call(
        request, lambda actor: BalancesOut.of(prosumers.withdraw(actor, address, body.amount))
    )


@router.post(
    "/prosumers/{address}/meter-readings",
    response_model=ReadingsOut,
    status_code=201,
    summary="Post meter readings for a prosumer (operators; a meter key: its own only)",
)
async def post_readings_for(request: Request, address: Address, body: ReadingsIn) -> ReadingsOut:
    return await api_of(request).call(request, lambda actor: record_readings(actor, address, body))


# --- users ---------------------------------------------------------------------------------


@router.post("/users", response_model=UserOut, status_code=201, summary="Add a user")
async def add_user(request: Request, body: UserIn) -> UserOut:
    api = api_of(request)
    return await api.call(
        request,
        lambda actor: UserOut.of(
            users.add_user(
                actor,
                body.username,
                body.email,
                body.password,
                rounds=api.settings.bcrypt_rounds,
                role=body.role,
                prosumer_address=body.prosumer,
            )
        ),
        Action.MANAGE_USERS,  # before hashing the password
    )


@router.get("/users", response_model=Page[UserOut], summary="Every user")
async def list_users(
    request: Request,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Page[UserOut]:
    def work(actor: Actor) -> Page[UserOut]:
        shown, after = _page(users.list_users(), "user", decode_cursor(cursor, "user") or 0, limit)
        return Page[UserOut](items=[UserOut.of(u) for u in shown], next_cursor=after)

    return await api_of(request).call(request, work, Action.MANAGE_USERS)


@router.put("/users/{username}/role", response_model=UserOut, summary="Change a user's role")
async def set_role(request: Request, username: Username, body: RoleIn) -> UserOut:
    return await api_of(request).call(
        request, lambda actor: UserOut.of(users.set_role(actor, username, body.role))
    )


@router.post("/users/{username}/disable", response_model=UserOut, summary="Disable a user")
async def disable(request: Request, username: Username) -> UserOut:
    return await api_of(request).call(
        request, lambda actor: UserOut.of(users.set_active(actor, username, False))
    )


@router.post("/users/{username}/enable", response_model=UserOut, summary="Enable a user")
async def enable(request: Request, username: Username) -> UserOut:
    return await api_of(request).call(
        request, lambda actor: UserOut.of(users.set_active(actor, username, True))
    )


# --- keys ----------------------------------------------------------------------------------


@router.post(
    "/keys",
    response_model=CreatedKeyOut,
    status_code=201,
    summary="Create an API key (the key is in this answer only)",
)
async def create_key(request: Request, body: KeyIn) -> CreatedKeyOut:
    def work(actor: Actor) -> CreatedKeyOut:
        try:
            expires = keys.parse_expiry(body.expires, clock.now())
        except ValidationError as exc:
            exc.field = "expires"  # the body's name for it
            raise
        created = keys.create_key(actor, body.user, body.name, body.permissions, expires)
        return CreatedKeyOut(key=created.key, info=KeyOut.of(created.info))

    return await api_of(request).call(request, work)


@router.get("/keys", response_model=Page[KeyOut], summary="API keys (never a secret)")
async def list_keys(
    request: Request,
    user: Annotated[str | None, Query(max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Page[KeyOut]:
    def work(actor: Actor) -> Page[KeyOut]:
        shown, after = _page(
            keys.list_keys(actor, user), "key", decode_cursor(cursor, "key") or 0, limit
        )
        return Page[KeyOut](items=[KeyOut.of(k) for k in shown], next_cursor=after)

    return await api_of(request).call(request, work)


@router.delete(
    "/keys/{key}",
    response_model=RevokedKeyOut,
    summary="Revoke an API key and the keys made with it",
)
async def revoke_key(
    request: Request,
    key: Annotated[str, Path(max_length=100, description="its id or prefix (etk_...)")],
) -> RevokedKeyOut:
    return await api_of(request).call(
        request, lambda actor: RevokedKeyOut.of_revoked(keys.revoke(actor, key))
    )


# --- audit ---------------------------------------------------------------------------------


@router.get("/audit", response_model=Page[AuditOut], summary="The audit log, newest first")
async def audit_log(
    request: Request,
    since: Annotated[str | None, Query(max_length=40)] = None,
    user: Annotated[str | None, Query(max_length=200)] = None,
    event: Annotated[str | None, Query(max_length=50)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    cursor: str | None = None,
) -> Page[AuditOut]:
    def work(actor: Actor) -> Page[AuditOut]:
        found = audit.entries(
            since=audit.parse_since(since, clock.now()),
            username=user,
            event_type=event,
            limit=limit + 1,
            before_id=decode_cursor(cursor, "audit"),
        )
        more = len(found) > limit
        return Page[AuditOut](
            items=[AuditOut.of(e) for e in found[:limit]],
            next_cursor=encode_cursor("audit", found[limit - 1].id) if more else None,
        )

    return await api_of(request).call(request, work, Action.READ_AUDIT)
