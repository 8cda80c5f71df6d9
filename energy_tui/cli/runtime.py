"""Turning parsed arguments into a connected database and settings, for every command."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator

from energy_tui.cli.arguments import API_KEY_ENV, HOW_TO_GIVE_A_KEY
from energy_tui.cli.key_file import STDIN, GivenKey
from energy_tui.config import load_settings
from energy_tui.errors import AuthError
from energy_tui.runtime import Runtime, bind, ensure_schema, rules_notice
from energy_tui.services.context import Actor
from energy_tui.services.permissions import Action, require

__all__ = ["API_KEY_ENV", "Runtime", "bind", "connected"]


@contextlib.contextmanager
def connected(args: argparse.Namespace, *, migrate: bool = True) -> Iterator[Runtime]:
    """Settings + database for one command. SQLite files are brought up to date on first
    use; a PostgreSQL/MySQL schema that is behind must be migrated explicitly."""
    runtime = bind(load_settings(getattr(args, "db", None)))
    try:
        with runtime.database.connection_context():
            notice = rules_notice(runtime)
            if migrate:
                ensure_schema(runtime)
            if notice:
                print(f"energy-tui: {notice}", file=sys.stderr)
            yield runtime
    finally:
        close_all = getattr(runtime.database, "close_all", None)
        if close_all is not None:  # a pool: do not leave idle server connections behind
            close_all()


# The key permission a command names -> the action it stands for (checked with the role).
_PERMISSION_ACTIONS = {
    "read": Action.READ_MARKET,
    "trade": Action.TRADE_OWN,
    "manage": Action.MANAGE_KEYS_OF_OTHERS,
}


def given_api_key(args: argparse.Namespace) -> str | None:
    """The key of --api-key-file, else $ENERGY_TUI_API_KEY (an empty one is no key)."""
    key = getattr(args, "api_key", None)
    if isinstance(key, GivenKey):
        return key.text
    if key is not None:  # a Namespace built in code, not from the command line
        return str(key)
    return os.environ.get(API_KEY_ENV) or None


def key_from_stdin(args: argparse.Namespace) -> bool:
    """Whether the command's key was read from standard input (which is then used up)."""
    key = getattr(args, "api_key", None)
    return isinstance(key, GivenKey) and key.source == STDIN


def command_actor(args: argparse.Namespace, *needs: str | Action) -> Actor:
    """Who a command acts as, the one way every command finds out.

    With a key (--api-key-file or $ENERGY_TUI_API_KEY) it is the key's owner, within the key's
    permissions and the owner's role, and allowed each of `needs` (a key permission such
    as "trade", or an Action): AuthError/PermissionDenied otherwise, before anything is
    written. Only with no key at all is it the local operator (a shell here plus the
    database settings: full rights, as with any database admin tool).
    """
    key = given_api_key(args)
    if key is None:
        return Actor.local_operator()
    from energy_tui.services import keys  # with users, passwords, bcrypt: for a key only

    actor = keys.verify(key)
    for need in needs:
        require(actor, Action(_PERMISSION_ACTIONS.get(str(need), need)))
    return actor


def api_actor(
    args: argparse.Namespace, runtime: Runtime | None, required_permission: str | Action
) -> Actor:
    """The owner of the command's API key, allowed `required_permission`, for commands
    that act for a trader and so need a key even on this machine."""
    if given_api_key(args) is None:
        raise AuthError(f"this command acts for a trader: give their API key: {HOW_TO_GIVE_A_KEY}")
    return command_actor(args, required_permission)
