"""Who is asking, checked now, in the request's own database connection.

Every endpoint runs its work through `Api.call`: in one worker thread, inside
`database.connection_context()` (a pooled connection on PostgreSQL/MySQL, returned at
the end), it authenticates the request (an API key exactly as the CLI checks it, or a
login token tied to an open session), requires what the endpoint needs, and calls the
services. A revoked key, a disabled user or an ended session stops at the next call.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import hashlib
import re
import uuid
from collections.abc import Callable
from typing import TypeVar

import jwt
from fastapi import Request
from starlette.concurrency import run_in_threadpool

from energy_tui import clock
from energy_tui.api.metrics import Metrics
from energy_tui.db.connect import backend_of
from energy_tui.db.models import db
from energy_tui.errors import AuthError
from energy_tui.runtime import Runtime
from energy_tui.services import auth, keys
from energy_tui.services.context import Actor
from energy_tui.services.permissions import Action, require
from energy_tui.services.rate_limits import Limit, SharedLimiter

T = TypeVar("T")
JWT_ALGORITHM = "HS256"
JWT_MIN_BYTES = 32
JWT_ISSUER = "energy-tui"
KEY_HEADER = "x-api-key"
_PREFIX = re.compile(r"etk_[0-9a-f]{8}(?=_)")


@dataclasses.dataclass(frozen=True)
class Credential:
    kind: str  # "key" | "jwt"
    value: str

    @property
    def shown(self) -> str:
        """What the access log may say of it before it is checked: a key's prefix."""
        match = _PREFIX.match(self.value) if self.kind == "key" else None
        return f"key:{match[0]}" if match else self.kind

    @property
    def bucket(self) -> str:
        """The rate limit's name for it: a hash of the whole credential, so that nobody
        can spend another's allowance by sending their key's prefix with a wrong secret."""
        return hashlib.sha256(self.value.encode("utf-8", "replace")).hexdigest()[:32]


def credential(request: Request) -> Credential | None:
    """`X-API-Key: <key>`, or `Authorization: Bearer <key or login token>`."""
    given = request.headers.get(KEY_HEADER)
    if given is not None:
        return Credential("key", given.strip())
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, value = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        raise AuthError("the Authorization header takes `Bearer <API key or login token>`")
    value = value.strip()
    return Credential("key" if value.startswith(keys.SCHEME) else "jwt", value)


def jwt_enabled(secret: str) -> bool:
    return len(secret.encode("utf-8")) >= JWT_MIN_BYTES


def client_ip(request: Request) -> str | None:
    return request.client.host[:64] if request.client is not None else None


class Api:
    """What the endpoints share: the bound database, the settings, the stream hub, the
    metrics."""

    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self.settings = runtime.settings
        # the models' proxy, bound to runtime.database: each request's connection comes
        # from whatever the proxy is bound to (tests rebind it per backend)
        self.database = db
        self.login_enabled = jwt_enabled(self.settings.jwt_secret)
        self.metrics = Metrics(db)
        self.limiter = SharedLimiter()

    async def call(
        self,
        request: Request,
        work: Callable[[Actor], T],
        *needs: Action,
        limited: bool = True,
    ) -> T:
        """`work(actor)` in a worker thread with its own connection, after the rate
        limits (unless not `limited`), authenticating the request and requiring each of
        `needs`."""
        ip = client_ip(request)
        malformed: AuthError | None = None
        try:
            given = credential(request)
        except AuthError as exc:  # refused below, after the address's limit
            given, malformed = None, exc

        request.state.who = given.shown if given is not None else None

        def job() -> T:
            with self.connection():
                if limited:
                    self.limit(ip, given)
                if malformed is not None:
                    raise malformed
                actor = self.authenticate(given, ip)
                request.state.who = _who(actor)
                for need in needs:
                    require(actor, need)
                return work(actor)

        return await run_in_threadpool(job)

    async def public(self, work: Callable[[], T], request: Request | None = None) -> T:
        """`work()` in a worker thread with its own connection, for anyone; with
        `request`, after its address's rate limit."""

        def job() -> T:
            with self.connection():
                if request is not None:
                    self.limit(client_ip(request), None)
                return work()

        return await run_in_threadpool(job)

    def limit(self, ip: str | None, given: Credential | None) -> None:
        """Spend one request of the address's and the credential's allowances (shared
        by every worker on this database), or raise TooManyRequests."""
        limits = [Limit(f"a:{ip or '-'}", self.settings.api_rate_per_address)]
        if given is not None:
            limits.append(Limit(f"k:{given.bucket}", self.settings.api_rate_per_key))
        self.limiter.spend(limits)

    def connection(self) -> contextlib.AbstractContextManager[object]:
        """The request's connection: from the pool, given back at the end (PostgreSQL,
        MySQL); on SQLite the worker thread's own, kept open for its next request (a
        new SQLite connection costs about a millisecond; there is no pool to exhaust)."""
        if backend_of(self.database) == "sqlite":
            self.database.connect(reuse_if_open=True)
            return contextlib.nullcontext()
        return self.database.connection_context()

    def authenticate(self, given: Credential | None, ip: str | None) -> Actor:
        if given is None:
            raise AuthError(
                "authentication required: send `Authorization: Bearer <API key>` or "
                "`X-API-Key: <API key>` (or a login token from POST /api/v1/auth/login)"
            )
        if given.kind == "key":
            return keys.verify(given.value, ip)
        session_id = self.session_of(given.value)
        actor = auth.check_session_id(session_id, self.settings, seen=True).actor
        return dataclasses.replace(actor, ip_address=ip)

    # --- login tokens -------------------------------------------------------------------

    def issue_token(self, login: auth.LoginResult) -> tuple[str, dt.datetime]:
        minutes = min(self.settings.session_idle_minutes, 60)
        now = clock.now()
        expires = now + dt.timedelta(minutes=minutes)
        claims = {
            "iss": JWT_ISSUER,
            "sub": login.username,
            "sid": login.session_id.hex,
            "iat": int(now.replace(tzinfo=dt.UTC).timestamp()),
            "exp": int(expires.replace(tzinfo=dt.UTC).timestamp()),
        }
        token = jwt.encode(claims, self.settings.jwt_secret, algorithm=JWT_ALGORITHM)
        return token, expires.replace(microsecond=0)

    def session_of(self, token: str) -> uuid.UUID:
        """The session a login token names, if its signature and lifetime hold."""
        if not self.login_enabled:
            raise AuthError(
                "login tokens are not accepted: password login is off on this server "
                "(JWT_SECRET unset or shorter than 32 bytes); use an API key"
            )
        try:
            claims = jwt.decode(
                token,
                self.settings.jwt_secret,
                algorithms=[JWT_ALGORITHM],
                issuer=JWT_ISSUER,
                # the lifetime is checked below against the project's clock (which tests
                # freeze), not by PyJWT against the wall clock
                options={"require": ["exp", "iat", "sid", "sub"], "verify_exp": False},
            )
            session_id = uuid.UUID(str(claims["sid"]))
        except (jwt.PyJWTError, ValueError):
            raise AuthError(
                "the login token is not valid: log in again (POST /api/v1/auth/login)"
            ) from None
        now = clock.now().replace(tzinfo=dt.UTC).timestamp()
        if int(claims["exp"]) <= now:
            raise AuthError("the login token has expired: log in again (POST /api/v1/auth/login)")
        return session_id


def _who(actor: Actor) -> str:
    """The access log's name for the caller: a key's prefix, or the user (no secret)."""
    return actor.label[:100]
