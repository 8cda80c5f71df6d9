"""`energy-tui user add|list|set-role|disable|enable|passwd`."""

from __future__ import annotations

import argparse
import getpass
import sys

from energy_tui.cli.output import print_json, print_table
from energy_tui.cli.runtime import command_actor, connected, key_from_stdin
from energy_tui.errors import ValidationError
from energy_tui.services import passwords, users, validation
from energy_tui.services.permissions import Action

COLUMNS = ["username", "email", "role", "is_active", "prosumer_address", "last_login"]


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


def piped_password(args: argparse.Namespace) -> str | None:
    """A password piped in is read and checked before anything connects (bad input
    writes nothing, not even a new SQLite file); one typed at the terminal is asked
    for only after the key check, so nobody types it for a command that is denied."""
    if args.password_stdin and key_from_stdin(args):
        raise ValidationError(
            "--password-stdin and --api-key-file - both read standard input: give the key "
            "in ENERGY_TUI_API_KEY or in a file instead"
        )
    return read_password(True) if args.password_stdin else None


def run_add(args: argparse.Namespace) -> int:
    piped = piped_password(args)
    with connected(args) as runtime:
        actor = command_actor(args, Action.MANAGE_USERS)  # before asking for a password
        password = piped if piped is not None else read_password(False)
        info = users.add_user(
            actor,
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
        command_actor(args, Action.MANAGE_USERS)
        rows = users.list_users()
    if args.json:
        print_json(rows)
    else:
        print_table([vars(row) for row in rows], COLUMNS)
    return 0


def run_set_role(args: argparse.Namespace) -> int:
    with connected(args):
        info = users.set_role(command_actor(args), args.username, args.role)
    print(f"{info.username} is now {info.role}")
    return 0


def run_set_active(args: argparse.Namespace) -> int:
    with connected(args):
        info = users.set_active(command_actor(args), args.username, args.active)
    print(f"{info.username} is {'enabled' if info.is_active else 'disabled'}")
    return 0


def run_passwd(args: argparse.Namespace) -> int:
    piped = piped_password(args)
    with connected(args) as runtime:
        # a key is not its owner's password: through one, only an admin's manage key
        # sets passwords, its owner's own included (the TUI asks for the current one)
        actor = command_actor(args, Action.MANAGE_USERS)
        password = piped if piped is not None else read_password(False)
        info = users.set_password(
            actor, args.username, password, rounds=runtime.settings.bcrypt_rounds
        )
    print(f"password of {info.username} changed; their other sessions were ended")
    return 0
