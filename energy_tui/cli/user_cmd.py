"""`energy-tui user add|list|set-role|disable|enable|passwd`."""

from __future__ import annotations

import argparse
import getpass
import sys

from energy_tui.cli.output import print_json, print_table
from energy_tui.cli.runtime import connected
from energy_tui.db.models import ROLES
from energy_tui.errors import ValidationError
from energy_tui.services import passwords, users, validation
from energy_tui.services.context import Actor

COLUMNS = ["username", "email", "role", "is_active", "prosumer_address", "last_login"]


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
    add.set_defaults(handler=run_add)

    listing = commands.add_parser("list", parents=[common], help="list users")
    listing.add_argument("--json", action="store_true", help="print JSON")
    listing.set_defaults(handler=run_list)

    role = commands.add_parser("set-role", parents=[common], help="change a user's role")
    role.add_argument("username")
    role.add_argument("role", help=f"one of {', '.join(ROLES)}")
    role.set_defaults(handler=run_set_role)

    for name, active in (("disable", False), ("enable", True)):
        toggle = commands.add_parser(name, parents=[common], help=f"{name} a user")
        toggle.add_argument("username")
        toggle.set_defaults(handler=run_set_active, active=active)

    passwd = commands.add_parser("passwd", parents=[common], help="set a user's password")
    passwd.add_argument("username")
    passwd.add_argument(
        "--password-stdin",
        action="store_true",
        help="read the password from the first line of standard input",
    )
    passwd.set_defaults(handler=run_passwd)


def read_password(from_stdin: bool) -> str:
    """From stdin's first line, or asked twice on the terminal (never echoed)."""
    if from_stdin:
        try:
            password = sys.stdin.readline().rstrip("\r\n")
        except UnicodeDecodeError:
            password = "\udcff"  # refused just below, as undecodable bytes are
        if not validation.is_utf8(password):
            raise ValidationError("the password on standard input is not valid UTF-8 text")
        passwords.check_rules(password)
        return password
    if not sys.stdin.isatty():
        raise ValidationError(
            "no terminal to ask for the password: pipe it in with --password-stdin"
        )
    password = getpass.getpass("Password: ")
    passwords.check_rules(password)
    if getpass.getpass("Repeat password: ") != password:
        raise ValidationError("the two passwords differ; nothing was changed")
    return password


def run_add(args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin)
    with connected(args) as runtime:
        info = users.add_user(
            Actor.local_operator(),
            args.username,
            args.email,
            password,
            rounds=runtime.settings.bcrypt_rounds,
            role=args.role,
            prosumer_address=args.prosumer,
        )
    if args.json:
        print_json(info)
    else:
        print(
            f"created {info.role} {info.username!r} <{info.email}>"
            + (f" trading for {info.prosumer_address}" if info.prosumer_address else "")
        )
    return 0


def run_list(args: argparse.Namespace) -> int:
    with connected(args):
        rows = users.list_users()
    if args.json:
        print_json(rows)
    else:
        print_table([vars(row) for row in rows], COLUMNS)
    return 0


def run_set_role(args: argparse.Namespace) -> int:
    with connected(args):
        info = users.set_role(Actor.local_operator(), args.username, args.role)
    print(f"{info.username} is now {info.role}")
    return 0


def run_set_active(args: argparse.Namespace) -> int:
    with connected(args):
        info = users.set_active(Actor.local_operator(), args.username, args.active)
    print(f"{info.username} is {'enabled' if info.is_active else 'disabled'}")
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    password = read_password(args.password_stdin)
    with connected(args) as runtime:
        info = users.set_password(
            Actor.local_operator(), args.username, password, rounds=runtime.settings.bcrypt_rounds
        )
    print(f"password of {info.username} changed; their other sessions were ended")
    return 0
