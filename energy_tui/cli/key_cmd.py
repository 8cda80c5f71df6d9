"""`energy-tui key create|list|revoke` and `energy-tui whoami`."""

from __future__ import annotations

import argparse

from energy_tui import clock
from energy_tui.cli.output import print_fields, print_json, print_table
from energy_tui.cli.runtime import command_actor, connected
from energy_tui.services import keys
from energy_tui.services.context import Actor
from energy_tui.services.keys import CreatedKey, KeyInfo

COLUMNS = [
    "prefix",
    "name",
    "owner",
    "permissions",
    "status",
    "expires_at",
    "last_used",
    "made_by",
]


def run_create(args: argparse.Namespace) -> int:
    permissions = keys.parse_permissions(args.perm)
    expires_at = keys.parse_expiry(args.expires, clock.now())
    with connected(args):
        actor = command_actor(args)
        created = keys.create_key(actor, args.user, args.name, permissions, expires_at)
    if args.json:
        print_json(_created_json(created))
    else:
        _print_created(created)
    return 0


def _created_json(created: CreatedKey) -> dict[str, object]:
    info = created.info
    return {
        "id": info.id,
        "key": created.key,
        "prefix": info.prefix,
        "permissions": list(info.permissions),
        "expires_at": info.expires_at,
        "owner": info.owner,
        "name": info.name,
    }


def _print_created(created: CreatedKey) -> None:
    info = created.info
    expiry = f"{info.expires_at:%Y-%m-%d %H:%M} UTC" if info.expires_at else "never"
    print(
        f"API key {info.prefix} {info.name!r} for {info.owner}: "
        f"permissions {', '.join(info.permissions)}; expires {expiry}"
    )
    print()
    print(f"    {created.key}")
    print()
    print("This is the only time the key is shown: store it now. Only its prefix is kept.")
    print(
        "Commands act as its owner with the key in ENERGY_TUI_API_KEY, or in a file only "
        "you can read (chmod 600) given with --api-key-file FILE; never type it on a "
        "command line (other users see command lines in ps)."
    )


def run_list(args: argparse.Namespace) -> int:
    with connected(args):
        rows = keys.list_keys(command_actor(args), args.user)
    if args.json:
        print_json(rows)
    else:
        print_table([vars(row) for row in rows], COLUMNS)
    return 0


def run_revoke(args: argparse.Namespace) -> int:
    with connected(args):
        revoked = keys.revoke(command_actor(args), args.key)
    print(revoked.message)
    return 0


def run_whoami(args: argparse.Namespace) -> int:
    with connected(args):
        actor = command_actor(args)
        info = keys.describe(actor)
    if args.json:
        print_json(_whoami_json(actor, info))
    elif info is None:
        print(
            f"{actor.label}: local operator, with full rights (anyone with a shell here "
            "and the database settings has them); give a key in ENERGY_TUI_API_KEY or "
            "--api-key-file FILE to act as its owner"
        )
    else:
        print_fields(_whoami_fields(actor, info))
    return 0


def _whoami_fields(actor: Actor, info: KeyInfo) -> list[tuple[str, object]]:
    return [
        ("owner", actor.username),
        ("role", actor.role),
        ("prosumer", actor.prosumer_address),
        ("key", f"{info.prefix} {info.name!r}"),
        ("permissions", list(info.permissions)),
        ("expires", info.expires_at or "never"),
        ("created", info.created_at),
    ]


def _whoami_json(actor: Actor, info: KeyInfo | None) -> dict[str, object]:
    if info is None:
        return {"actor": actor.label, "role": actor.role, "local_operator": True}
    return {
        "actor": actor.label,
        "owner": actor.username,
        "role": actor.role,
        "prosumer_address": actor.prosumer_address,
        "key_id": info.id,
        "prefix": info.prefix,
        "name": info.name,
        "permissions": list(info.permissions),
        "expires_at": info.expires_at,
        "local_operator": False,
    }
