"""The arguments of every operator command, apart from the code that runs them.

Each module here adds its commands to the one parser (`cli.commands.build_parser`) and
names each command's handler as text, "module:function" in `energy_tui.cli` (say
"market_cmd:run_book"); `cli.commands.handler_of` imports that module only when its
command runs. So the parser, `--help` and every command's `--help` load no service, no
Peewee and no bcrypt: only argparse, these modules and the cheap argument checks
(`cli.arguments`, `cli.key_file`, `terms`).
"""

from __future__ import annotations

import argparse

from energy_tui.cli.key_file import add_api_key_option


def command(
    commands: argparse._SubParsersAction,
    name: str,
    common: argparse.ArgumentParser,
    handler: str,
    help_text: str,
    *,
    for_trader: bool = False,
) -> argparse.ArgumentParser:
    """A command that prints a table or, with --json, JSON, and takes an API key."""
    parser = commands.add_parser(name, parents=[common], help=help_text)
    parser.add_argument("--json", action="store_true", help="print JSON")
    add_api_key_option(parser, for_trader=for_trader)
    parser.set_defaults(handler=handler)
    return parser
