"""`energy-tui key create|list|revoke` and `energy-tui whoami`."""

from __future__ import annotations

import argparse

from energy_tui import clock
from energy_tui.cli.output import print_fields, print_json, print_table
from energy_tui.cli.runtime import add_api_key_option, command_actor, connected
from energy_tui.services import keys
from energy_tui.services.context import Actor
from energy_tui.services.keys import CreatedKey, KeyInfo

COLUMNS = ["prefix", "name", "owner", "permissions", "status", "expires_at", "last_used"]


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("key", parents=[common], help="API keys for scripts and the CLI")
    commands = parser.add_subparsers(dest="key_command", metavar="ACTION", required=True)

    create = commands.add_parser("create", parents=[common], help="create an API key (shown once)")
    create.add_argument("--user", required=True, metavar="NAME", help="whose key it is")
    create.add_argument("--name", required=True, metavar="LABEL", help="what the key is for")
    create.add_argument(
        "--perm",
        "--permissions",
        dest="perm",
        default="read",
        metavar="PERMS",
        help="comma-separated, from read, trade, manage, meter (default: read); meter: "
        "post meter readings for the owner's prosumer over the HTTP API, nothing else",
    )
    create.add_argument("--expires", metavar="WHEN", help=f"{keys.EXPIRY_FORMS}; default never")
    create.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(create)
    create.set_defaults(handler=run_create)

    listing = commands.add_parser("list", parents=[common], help="list keys (never a secret)")
    listing.add_argument("--user", metavar="NAME", help="only this user's keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(listing)
    listing.set_defaults(handler=run_list)

    revoke = commands.add_parser("revoke", parents=[common], help="revoke a key")
    revoke.add_argument("key", metavar="ID_OR_PREFIX", help="as `key list` shows it")
    add_api_key_option(revoke)
    revoke.set_defaults(handler=run_revoke)

    whoami = sub.add_parser(
        "whoami", parents=[common], help="who the CLI acts as; with a key: its owner and rights"
    )
    whoami.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(whoami)
    whoami.set_defaults(handler=run_whoami)


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
        info = keys.revoke(command_actor(args), args.key)
    print(f"revoked API key {info.prefix or info.id} {info.name!r} of {info.owner or 'nobody'}")
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
