"""`energy-tui user add|list|set-role|disable|enable|passwd` (run by `user_cmd`)."""

from __future__ import annotations

import argparse

from energy_tui.cli.key_file import add_api_key_option
from energy_tui.terms import ROLES


def register(sub: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
    parser = sub.add_parser("user", parents=[common], help="user accounts")
    commands = parser.add_subparsers(dest="user_command", metavar="ACTION", required=True)

    add = commands.add_parser("add", parents=[common], help="create a user")
    add.add_argument("username")
    add.add_argument("--email", required=True)
    add.add_argument("--role", default="trader", help=f"one of {', '.join(ROLES)}")
    add.add_argument("--prosumer", metavar="ADDRESS", help="the prosumer this user trades for")
    add.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    add.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(add)
    add.set_defaults(handler="user_cmd:run_add")

    listing = commands.add_parser("list", parents=[common], help="list users")
    listing.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(listing)
    listing.set_defaults(handler="user_cmd:run_list")

    role = commands.add_parser("set-role", parents=[common], help="change a user's role")
    role.add_argument("username")
    role.add_argument("role", help=f"one of {', '.join(ROLES)}")
    add_api_key_option(role)
    role.set_defaults(handler="user_cmd:run_set_role")

    for name, active in (("disable", False), ("enable", True)):
        toggle = commands.add_parser(name, parents=[common], help=f"{name} a user")
        toggle.add_argument("username")
        add_api_key_option(toggle)
        toggle.set_defaults(handler="user_cmd:run_set_active", active=active)

    passwd = commands.add_parser("passwd", parents=[common], help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    add_api_key_option(passwd)
    passwd.set_defaults(handler="user_cmd:run_passwd")
