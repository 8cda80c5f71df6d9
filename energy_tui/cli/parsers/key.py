"""`energy-tui key create|list|revoke` and `energy-tui whoami` (run by `key_cmd`)."""

from __future__ import annotations

import argparse

from energy_tui.cli.key_file import add_api_key_option
from energy_tui.terms import EXPIRY_FORMS


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
    create.add_argument("--expires", metavar="WHEN", help=f"{EXPIRY_FORMS}; default never")
    create.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(create)
    create.set_defaults(handler="key_cmd:run_create")

    listing = commands.add_parser("list", parents=[common], help="list keys (never a secret)")
    listing.add_argument("--user", metavar="NAME", help="only this user's keys")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(listing)
    listing.set_defaults(handler="key_cmd:run_list")

    revoke = commands.add_parser(
        "revoke", parents=[common], help="revoke a key and the keys made with it"
    )
    revoke.add_argument("key", metavar="ID_OR_PREFIX", help="as `key list` shows it")
    add_api_key_option(revoke)
    revoke.set_defaults(handler="key_cmd:run_revoke")

    whoami = sub.add_parser(
        "whoami", parents=[common], help="who the CLI acts as; with a key: its owner and rights"
    )
    whoami.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(whoami)
    whoami.set_defaults(handler="key_cmd:run_whoami")
