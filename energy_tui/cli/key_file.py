"""`--api-key-file FILE`: the one way a command takes an API key, read while the arguments
are parsed. Cheap to import (no Peewee, no service): every command's parser adds it."""

from __future__ import annotations

import argparse
import dataclasses
import getpass
import os
import stat
import sys

from energy_tui.cli.arguments import (
    API_KEY_ENV,
    key_given_as_argument,
    key_option_refusal,
)
from energy_tui.redact import key_prefix_in

STDIN = "-"
_KEY_FILE_LIMIT = 4096  # a key is 56 characters; anything this big is the wrong file


@dataclasses.dataclass(frozen=True)
class GivenKey:
    """A key read from --api-key-file: the text (never in the repr, so never in a log
    or a traceback's locals) and where it came from (a path, or "-" for stdin)."""

    text: str = dataclasses.field(repr=False)
    source: str


def add_api_key_option(parser: argparse.ArgumentParser, *, for_trader: bool = False) -> None:
    """--api-key-file FILE (or - for stdin), read while the arguments are parsed, so a
    bad file stops the command before it connects. A key itself is never an argument:
    `--api-key KEY` is refused (`arguments.key_on_command_line`, before any parsing;
    the hidden option here refuses it too when a parser is used without `cli.main`)."""
    who = (
        "the trader whose key it is"
        if for_trader
        else "the key's owner instead of the local operator"
    )
    parser.add_argument(
        "--api-key-file",
        dest="api_key",
        metavar="FILE",
        type=read_api_key_file,
        default=None,
        help=f"act as {who}, with the API key in FILE (mode 0600; - reads standard "
        f"input); default: ${API_KEY_ENV}. Never put a key on the command line",
    )
    parser.add_argument("--api-key", nargs="?", action=_RefuseKeyArgument, help=argparse.SUPPRESS)


class _RefuseKeyArgument(argparse.Action):
    def __call__(
        self, parser: argparse.ArgumentParser, _: object, value: object, *__: object
    ) -> None:
        prefix = key_prefix_in(value) if isinstance(value, str) else None
        parser.exit(2, f"energy-tui: {key_option_refusal(prefix)}\n")


def read_api_key_file(path: str) -> GivenKey:
    """The key in `path` ("-": standard input, asked for without echo on a terminal).

    One trailing line break is dropped; an empty file, more than one line, text that is
    not UTF-8 or a file group or others may read (when it is yours: ssh's rule for a
    private key) is refused with one line that names the file, never its content.
    """
    prefix = key_prefix_in(path)
    if prefix is not None:  # the key itself (`cli.main` refuses it first; see there)
        raise argparse.ArgumentTypeError(key_given_as_argument(prefix, as_file=True))
    where = "'-' (standard input)" if path == STDIN else repr(path)
    data = _read_stdin(where) if path == STDIN else _read_private_file(path, where)
    if len(data) > _KEY_FILE_LIMIT:
        raise argparse.ArgumentTypeError(
            f"{where} is too long for an API key (over {_KEY_FILE_LIMIT} bytes)"
        )
    try:
        text = data.decode("utf-8") if isinstance(data, bytes) else data
    except UnicodeDecodeError:
        raise argparse.ArgumentTypeError(f"{where} is not UTF-8 text") from None
    text = text.removesuffix("\n").removesuffix("\r")
    if not text:
        raise argparse.ArgumentTypeError(f"{where} is empty: it should hold the API key")
    if "\n" in text or "\r" in text:
        raise argparse.ArgumentTypeError(
            f"{where} holds more than one line: it should hold only the API key"
        )
    return GivenKey(text, path)


def _read_stdin(where: str) -> bytes | str:
    if sys.stdin is None or sys.stdin.closed:
        raise argparse.ArgumentTypeError(f"{where} is closed")
    if sys.stdin.isatty():
        try:
            return getpass.getpass("API key: ")  # not echoed
        except EOFError:
            return ""
        except KeyboardInterrupt:
            print("interrupted", file=sys.stderr)
            raise SystemExit(130) from None
    stream = getattr(sys.stdin, "buffer", sys.stdin)  # tests give a StringIO
    try:
        return stream.read(_KEY_FILE_LIMIT + 1)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{where} cannot be read ({exc.strerror})") from None


def _read_private_file(path: str, where: str) -> bytes:
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        raise argparse.ArgumentTypeError(f"{where} does not exist") from None
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{where} cannot be read ({exc.strerror})") from None
    try:
        info = os.fstat(fd)  # of the file opened, not of whatever the path names now
        if stat.S_ISDIR(info.st_mode):
            raise argparse.ArgumentTypeError(f"{where} is a folder, not a file")
        # ssh's rule for a private key: a file of yours that group or others may use is
        # refused. Pipes and devices (`<(pass show key)`, /dev/stdin) hold nothing at rest
        # and are not checked; nor is a file someone else (root, say) provided for you.
        yours = hasattr(os, "geteuid") and info.st_uid == os.geteuid()
        if stat.S_ISREG(info.st_mode) and yours and info.st_mode & 0o077:
            raise argparse.ArgumentTypeError(
                f"{where} may be read or changed by other users "
                f"(mode {stat.S_IMODE(info.st_mode):04o}): run chmod 600 on it"
            )
        chunks = []
        while chunk := os.read(fd, _KEY_FILE_LIMIT + 1):
            chunks.append(chunk)
            if sum(map(len, chunks)) > _KEY_FILE_LIMIT:
                break
        return b"".join(chunks)
    except OSError as exc:
        raise argparse.ArgumentTypeError(f"{where} cannot be read ({exc.strerror})") from None
    finally:
        os.close(fd)
