"""What every command's arguments go through: one-line usage errors, ASCII whole numbers
with a range, negative numbers as values, UTF-8 only.

Cheap to import (no Peewee): `cli.main` checks the raw arguments before any command loads.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal, InvalidOperation
from typing import NoReturn

from energy_tui.errors import ValidationError
from energy_tui.redact import key_prefix_in
from energy_tui.services import validation

# argparse takes '-5' and '-.5' for values but '-1e5' or '-1,5' for an unknown option, and
# then reports a missing argument. Anything that starts like a negative number is a value
# here (no option does), so the amount's own check can say why it is refused.
_NEGATIVE_NUMBER = re.compile(r"-\.?\d\S*")
# What argparse still reads as an option although a number was meant: put -- before it.
_NUMBER_LIKE = re.compile(r"-(\.?\d|inf|nan)", re.IGNORECASE)
_LABELLED = re.compile(r"argument (\S+): (?=')")  # "argument --depth: '0' is ..."


class Parser(argparse.ArgumentParser):
    """An ArgumentParser (and, through `parser_class`, each of its subparsers) that
    takes negative numbers for values and reports a mistake on one line."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self._negative_number_matcher = _NEGATIVE_NUMBER
        self._seen: list[str] = []

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._seen = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def error(self, message: str) -> NoReturn:
        prefix = key_prefix_in(message)  # "unrecognized arguments: etk_..."
        if prefix is not None:
            self.exit(2, f"energy-tui: {key_given_as_argument(prefix)}\n")
        line = _LABELLED.sub(r"\1 ", message)
        options = self._seen[: self._seen.index("--")] if "--" in self._seen else self._seen
        dashed = next((arg for arg in options if _read_as_option(arg)), None)
        if dashed is not None:
            line += (
                f" ({dashed[:20]!r} was read as an option: put -- before the first value "
                "that starts with '-')"
            )
        self.exit(2, f"energy-tui: {one_line(line)} (see `{self.prog} --help`)\n")


def one_line(text: str) -> str:
    """`text` with line breaks and other unprintable characters escaped (`\\n`): what the
    user typed is echoed in messages, which must stay one line."""
    return "".join(char if char.isprintable() else repr(char)[1:-1] for char in text)


def _read_as_option(arg: str) -> bool:
    return bool(_NUMBER_LIKE.match(arg)) and not _NEGATIVE_NUMBER.fullmatch(arg)


def whole_number(minimum: int, maximum: int) -> Callable[[str], int]:
    """An argparse `type`: ASCII digits only, from `minimum` to `maximum`."""

    def parse(raw: str) -> int:
        try:
            return validation.whole_number(raw, "", minimum=minimum, maximum=maximum)
        except ValidationError as exc:
            raise argparse.ArgumentTypeError(str(exc).lstrip()) from None

    parse.__name__ = "whole number"  # what argparse calls the type in its messages
    return parse


def decimal_number(minimum: Decimal, maximum: Decimal) -> Callable[[str], Decimal]:
    """An argparse `type`: a plain ASCII decimal (no NaN, no exponent) in the range."""

    def parse(raw: str) -> Decimal:
        text = raw.strip()
        try:
            value = Decimal(text) if re.fullmatch(r"\d+(\.\d+)?", text, re.ASCII) else None
        except InvalidOperation:
            value = None
        if value is None or not minimum <= value <= maximum:
            raise argparse.ArgumentTypeError(
                f"{raw[:40]!r} is not valid: expected a number from {minimum} to {maximum}"
            )
        return value

    parse.__name__ = "number"
    return parse


def non_utf8_argument(argv: Sequence[str]) -> str | None:
    """A one-line reason when an argument is not UTF-8 text (its bytes arrive as lone
    surrogates and would fail deep inside a command), else None. The value itself is not
    shown: it may be a key or a password."""
    for position, arg in enumerate(argv, 1):
        if not validation.is_utf8(arg):
            after = argv[position - 2] if position > 1 else ""
            named = after.startswith("--") and validation.is_utf8(after)
            where = f" (the value after {after[:30]})" if named else ""
            return (
                f"argument {position}{where} is not valid UTF-8 text: "
                "check the terminal's encoding or the script that passes it"
            )
    return None


API_KEY_ENV = "ENERGY_TUI_API_KEY"
HOW_TO_GIVE_A_KEY = (
    f"put the key in {API_KEY_ENV}, or in a file only you can read, given with "
    "--api-key-file FILE (- for standard input)"
)
# --api-key and the abbreviations argparse would expand to it (`--api-k=KEY`): a value
# there is a key on the command line, where `ps` shows it to every local user.
_KEY_OPTIONS = tuple("--api-key"[:end] for end in range(len("--api-k"), len("--api-key") + 1))


def key_as_key_file(argv: Sequence[str]) -> str | None:
    """A one-line refusal, showing only its prefix, when the value of `--api-key-file` is
    an API key instead of a file's path, else None. argparse would echo it ("'etk_...'
    does not exist"). It is out already, on a command line: the advice is to revoke it."""
    for position, arg in enumerate(argv):
        option, is_joined, value = arg.partition("=")
        after = argv[position - 1] if position else ""
        if is_joined and _is_key_file_option(option):
            prefix = key_prefix_in(value)
        elif _is_key_file_option(after):
            prefix = key_prefix_in(arg)
        else:
            continue
        if prefix is not None:
            return key_given_as_argument(prefix, as_file=True)
    return None


def key_given_as_argument(prefix: str, *, as_file: bool = False) -> str:
    what = (
        f"--api-key-file takes a file's path, and this is API key {prefix} itself"
        if as_file
        else f"an argument is API key {prefix}"
    )
    return (
        f"{what}: other users of this machine can read it now (ps) and your shell history "
        f"keeps it, so revoke it (`energy-tui key revoke {prefix}`) and create a new one; "
        + HOW_TO_GIVE_A_KEY
    )


def _is_key_file_option(arg: str) -> bool:
    """`--api-key-file` or an abbreviation argparse expands to it (`--api-key-f`)."""
    return len(arg) > len("--api-key") and "--api-key-file".startswith(arg)


def key_on_command_line(argv: Sequence[str]) -> str | None:
    """A one-line refusal when an argument before `--` is `--api-key` (with a value or
    not, `--api-key=KEY` too), else None. The value is never shown: it is a secret that
    is already in `ps` and the shell's history, and argparse would echo it in its own
    messages (an unknown or ambiguous option) if it saw it first. When it is a key, the
    refusal names its prefix and says to revoke it."""
    for position, arg in enumerate(argv):
        if arg == "--":
            return None
        option, is_joined, value = arg.partition("=")
        if option in _KEY_OPTIONS:
            if not is_joined:
                value = argv[position + 1] if position + 1 < len(argv) else ""
            return key_option_refusal(key_prefix_in(value))
    return None


def key_option_refusal(prefix: str | None) -> str:
    """Why `--api-key` is refused; with the prefix of the key it was given, to revoke."""
    revoke = (
        ""
        if prefix is None
        else f"API key {prefix} is out now, so revoke it (`energy-tui key revoke {prefix}`) "
        "and create a new one; "
    )
    return (
        "--api-key is refused: other users of this machine can read a command line (ps), "
        f"and it stays in your shell history; {revoke}" + HOW_TO_GIVE_A_KEY
    )
