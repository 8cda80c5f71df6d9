"""/api/v1/auth: password login -> a short-lived signed token tied to a session row;
logout; who am I."""

from __future__ import annotations

from fastapi import APIRouter, Request

from energy_tui.api.context import client_ip, credential
from energy_tui.api.routes_market import api_of
from energy_tui.api.schemas import LoginIn, Message, TokenOut, WhoAmIOut, iso
from energy_tui.api.strict import StrictRoute
from energy_tui.errors import PermissionDenied, ValidationError
from energy_tui.services import auth
from energy_tui.services.context import Actor

router = APIRouter(prefix="/api/v1/auth", tags=["auth"], route_class=StrictRoute)


@router.post(
    "/login",
    response_model=TokenOut,
    summary="Log in with a password: a short-lived token for `Authorization: Bearer`",
    description="Lockout after failed logins, constant work for unknown names and the "
    "audit rows are the app's. The token ends with its session: logout, the user "
    "disabled or their password changed end it at once.",
)
async def login(request: Request, body: LoginIn) -> TokenOut:
    api = api_of(request)
    if not api.login_enabled:
        raise PermissionDenied(
            "password login is off on this server: JWT_SECRET is unset or shorter than "
            "32 bytes; use an API key"
        )
    ip = client_ip(request)

    def work() -> TokenOut:
        result = auth.authenticate(body.username, body.password, ip, api.settings)
        request.state.who = f"user:{result.username}"
        token, expires = api.issue_token(result)
        return TokenOut(
            access_token=token,
            expires_at=iso(expires) or "",
            username=result.username,
            role=result.role,
        )

    return await api.public(work, request)


@router.post("/logout", response_model=Message, summary="End this login token's session")
async def logout(request: Request) -> Message:
    api = api_of(request)
    given = credential(request)

    def work(actor: Actor) -> Message:
        if given is None or given.kind != "jwt":
            raise ValidationError(
                "logout ends a login session; an API key is revoked with DELETE /api/v1/keys/{key}",
                field="authorization",
            )
        auth.end_session_id(api.session_of(given.value), "logout")
        return Message(status="logged out")

    return await api.call(request, work)


@router.get("/whoami", response_model=WhoAmIOut, summary="Who this request acts as")
async def whoami(request: Request) -> WhoAmIOut:
    def work(actor: Actor) -> WhoAmIOut:
        return WhoAmIOut(
            actor=actor.label,
            username=actor.username,
            role=actor.role,
            prosumer_address=actor.prosumer_address,
            permissions=sorted(actor.permissions) if actor.permissions is not None else None,
        )

    return await api_of(request).call(request, work)
