"""Turning parsed arguments into a connected database and settings, for every command."""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import getpass
import os
import stat
import sys
from collections.abc import Iterator

from energy_tui.cli.arguments import API_KEY_ENV, HOW_TO_GIVE_A_KEY, key_on_command_line
from energy_tui.config import load_settings
from energy_tui.errors import AuthError
from energy_tui.runtime import Runtime, bind, ensure_schema, rules_notice
from energy_tui.services import keys
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
    def __call__(self, parser: argparse.ArgumentParser, *_: object, **__: object) -> None:
        parser.exit(2, f"energy-tui: {key_on_command_line(['--api-key'])}\n")


def read_api_key_file(path: str) -> GivenKey:
    """The key in `path` ("-": standard input, asked for without echo on a terminal).

    One trailing line break is dropped; an empty file, more than one line, text that is
    not UTF-8 or a file group or others may read (when it is yours: ssh's rule for a
    private key) is refused with one line that names the file, never its content.
    """
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
