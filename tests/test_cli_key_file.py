"""How a command gets an API key: $ENERGY_TUI_API_KEY or --api-key-file FILE ("-": stdin),
never the command line, where `ps` shows it to every user of the machine. A bad file
stops the command with exit 2 and one line naming the file, never its content."""

from __future__ import annotations

import argparse
import getpass
import io
import json
import os
import sys
from pathlib import Path

import pytest

from energy_tui import locations
from energy_tui.cli.commands import build_parser
from energy_tui.cli.key_file import GivenKey
from energy_tui.services import keys
from tests.auth_support import OPERATOR, add_user
from tests.key_support import key_file


@pytest.fixture
def run(cli, backend):
    return lambda *args, stdin=None: cli("--db", backend.url, *args, stdin=stdin)


@pytest.fixture
def bob_key(backend) -> str:
    add_user("bob", "trader")
    add_user("alice", "trader")
    return keys.create_key(OPERATOR, "bob", "k", "read,trade").key


def owner(result) -> str:
    assert result.code == 0, result.err
    assert result.err == ""
    return json.loads(result.out)["owner"]


def write(path: Path, data: bytes, mode: int = 0o600) -> str:
    path.write_bytes(data)
    path.chmod(mode)
    return str(path)


def refused_in_one_line(result, *parts: str, secret: str | None = None) -> None:
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.startswith("energy-tui: ") and result.err.count("\n") == 1, result.err
    for part in parts:
        assert part in result.err
    assert "Traceback" not in result.err
    if secret is not None:
        assert secret not in result.err
        assert secret[13:] not in result.err


def logged() -> str:
    log = locations.log_file()
    return log.read_text(encoding="utf-8") if log.exists() else ""


# --- the file ------------------------------------------------------------------------


def test_a_key_file_makes_the_command_act_as_the_keys_owner(run, bob_key, tmp_path):
    path = write(tmp_path / "bob.key", bob_key.encode() + b"\n")
    assert owner(run("whoami", "--json", "--api-key-file", path)) == "bob"
    assert owner(run("whoami", "--json", f"--api-key-file={path}")) == "bob"


@pytest.mark.parametrize("ending", [b"", b"\n", b"\r\n"], ids=["none", "lf", "crlf"])
def test_one_trailing_line_break_is_dropped(run, bob_key, tmp_path, ending):
    path = write(tmp_path / "bob.key", bob_key.encode() + ending)
    assert owner(run("whoami", "--json", "--api-key-file", path)) == "bob"


def test_a_read_only_key_file_is_fine(run, bob_key, tmp_path):
    path = write(tmp_path / "bob.key", bob_key.encode(), mode=0o400)
    assert owner(run("whoami", "--json", "--api-key-file", path)) == "bob"


def test_dash_reads_the_key_from_standard_input(run, bob_key):
    assert owner(run("whoami", "--json", "--api-key-file", "-", stdin=bob_key + "\n")) == "bob"


def test_the_file_wins_over_the_environment(run, bob_key, backend, monkeypatch, tmp_path):
    alices = keys.create_key(OPERATOR, "alice", "k", "read").key
    monkeypatch.setenv("ENERGY_TUI_API_KEY", alices)
    assert owner(run("whoami", "--json")) == "alice"
    path = write(tmp_path / "bob.key", bob_key.encode())
    assert owner(run("whoami", "--json", "--api-key-file", path)) == "bob"


def test_a_pipe_is_not_refused_for_its_mode(run, bob_key):
    read_end, write_end = os.pipe()
    os.write(write_end, bob_key.encode() + b"\n")
    os.close(write_end)
    try:
        assert owner(run("whoami", "--json", "--api-key-file", f"/dev/fd/{read_end}")) == "bob"
    finally:
        os.close(read_end)


# --- bad files: exit 2, one line naming the file, nothing connects ---------------------

SECRET = "etk_0123abcd_" + "S" * 43


@pytest.mark.parametrize(
    ("data", "mode", "message"),
    [
        pytest.param(b"", 0o600, "is empty", id="empty"),
        pytest.param(b"\n", 0o600, "is empty", id="just-a-line-break"),
        pytest.param(SECRET.encode() + b"\n\n", 0o600, "more than one line", id="two-breaks"),
        pytest.param(
            SECRET.encode() + b"\n" + SECRET.encode(), 0o600, "more than one line", id="2-lines"
        ),
        pytest.param(SECRET.encode() + b"\xff\xfe", 0o600, "is not UTF-8 text", id="not-utf8"),
        pytest.param(SECRET.encode() * 100, 0o600, "too long for an API key", id="too-long"),
        pytest.param(SECRET.encode(), 0o644, "(mode 0644): run chmod 600", id="world-readable"),
        pytest.param(SECRET.encode(), 0o640, "(mode 0640): run chmod 600", id="group-readable"),
        pytest.param(SECRET.encode(), 0o620, "(mode 0620): run chmod 600", id="group-writable"),
    ],
)
def test_a_bad_key_file_is_refused_naming_it_never_showing_it(cli, tmp_path, data, mode, message):
    path = write(tmp_path / "the.key", data, mode)
    database = tmp_path / "never.db"
    result = cli("--db", f"sqlite:///{database}", "whoami", "--api-key-file", path)
    refused_in_one_line(result, f"--api-key-file '{path}'", message, secret=SECRET)
    assert not database.exists()  # refused while parsing, before anything connects
    assert SECRET[13:] not in logged()


def test_a_missing_key_file_is_named(cli, tmp_path):
    missing = tmp_path / "nowhere" / "bob.key"
    result = cli("--db", f"sqlite:///{tmp_path / 'x.db'}", "whoami", "--api-key-file", str(missing))
    refused_in_one_line(result, f"'{missing}' does not exist")


def test_a_folder_or_unreadable_file_is_named(cli, tmp_path):
    result = cli("whoami", "--api-key-file", str(tmp_path))
    refused_in_one_line(result, f"'{tmp_path}' is a folder")
    if os.geteuid() != 0:  # root reads anything
        path = write(tmp_path / "locked.key", SECRET.encode(), mode=0o000)
        refused_in_one_line(cli("whoami", "--api-key-file", path), "cannot be read")


@pytest.mark.parametrize(
    ("stdin", "message"),
    [("", "is empty"), ("\n", "is empty"), (f"{SECRET}\nmore\n", "more than one line")],
)
def test_bad_standard_input_is_refused_without_showing_it(cli, stdin, message):
    result = cli("whoami", "--api-key-file", "-", stdin=stdin)
    refused_in_one_line(result, "'-' (standard input)", message, secret=SECRET)


def test_password_and_key_cannot_both_come_from_standard_input(cli, tmp_path):
    database = tmp_path / "never.db"
    result = cli(
        "--db", f"sqlite:///{database}", "user", "add", "eve", "--email", "e@example.org",
        "--password-stdin", "--api-key-file", "-", stdin=f"{SECRET}\n",
    )  # fmt: skip
    refused_in_one_line(result, "both read standard input", secret=SECRET)
    assert not database.exists()


# --- never on the command line -------------------------------------------------------


@pytest.mark.parametrize(
    "argv",
    [
        ["whoami", "--api-key", SECRET],
        ["whoami", f"--api-key={SECRET}"],
        ["whoami", f"--api-k={SECRET}"],  # what argparse would expand to --api-key
        ["whoami", "--api-ke", SECRET],
        ["whoami", "--json", "--api-key"],
        ["--api-key", SECRET, "whoami"],
        ["order", "place", "buy", "1", "0.1", "--api-key", SECRET],
        ["key", "create", "--user", "bob", "--name", "x", "--api-key", SECRET],
        ["demo", "--api-key", SECRET],  # a command without key options
        ["--api-key", SECRET],  # the TUI
    ],
)
def test_a_key_on_the_command_line_is_refused_and_never_echoed_or_logged(cli, tmp_path, argv):
    database = tmp_path / "never.db"
    result = cli("--db", f"sqlite:///{database}", *argv)
    refused_in_one_line(
        result, "--api-key is refused", "ENERGY_TUI_API_KEY", "--api-key-file FILE", secret=SECRET
    )
    assert "(ps)" in result.err
    assert not database.exists()
    assert SECRET[13:] not in logged()
    # the key is out: revoke it, by the prefix shown (nothing to revoke without a value)
    revoke = "API key etk_0123abcd is out now, so revoke it (`energy-tui key revoke etk_0123abcd`)"
    assert (revoke in result.err) == (SECRET in " ".join(argv)), result.err


REVOKE_ADVICE = (
    "API key etk_0123abcd",
    "(ps)",
    "shell history",
    "revoke it (`energy-tui key revoke etk_0123abcd`) and create a new one",
    "ENERGY_TUI_API_KEY",
)


@pytest.mark.parametrize(
    "argv",
    [
        ["whoami", "--api-key-file", SECRET],
        ["whoami", f"--api-key-file={SECRET}"],
        ["whoami", "--api-key-f", SECRET],  # what argparse expands to the option
        ["order", "list", "--api-key-file", SECRET],
        ["whoami", "--api-key-file", SECRET[:30]],  # a paste cut short: most of it
    ],
    ids=["file", "file=", "abbreviated", "order-list", "cut-short"],
)
def test_a_key_given_instead_of_its_file_is_refused_showing_only_its_prefix(cli, tmp_path, argv):
    """The key where its file's path belongs was echoed back ("'etk_...' does not exist"):
    now only its public prefix is shown, as `key list` shows it, with the advice to revoke
    it, since a command line is readable by other users and kept in the shell's history."""
    secret = argv[-1].split("=")[-1]
    database = tmp_path / "never.db"
    result = cli("--db", f"sqlite:///{database}", *argv)
    refused_in_one_line(result, "--api-key-file takes a file's path", *REVOKE_ADVICE, secret=secret)
    assert not database.exists()
    assert secret[13:] not in logged()


def test_a_key_argparse_would_echo_is_refused_showing_only_its_prefix(cli, tmp_path):
    database = tmp_path / "never.db"
    result = cli("--db", f"sqlite:///{database}", "whoami", SECRET)  # unrecognized argument
    refused_in_one_line(result, "an argument is API key etk_0123abcd", *REVOKE_ADVICE,
                        secret=SECRET)  # fmt: skip
    assert not database.exists()
    assert SECRET[13:] not in logged()


def test_a_key_typed_as_a_value_is_neither_echoed_nor_logged(run):
    """A refusal that echoes the value typed shows only the prefix of a key in it, on the
    terminal and in the log."""
    refused_in_one_line(run("prosumer", "show", "--", SECRET),
                        "no prosumer with address 'etk_0123abcd_...'", secret=SECRET)  # fmt: skip
    refused_in_one_line(run("key", "revoke", SECRET), "etk_0123abcd", secret=SECRET)
    assert "etk_0123abcd_..." in logged()  # the refusals are logged, without the secret
    assert SECRET[13:] not in logged()


def test_key_revoke_takes_a_whole_key_and_never_repeats_one(run, bob_key):
    result = run("key", "revoke", bob_key)  # a valid key, given whole: revoked
    assert result.code == 0, result.err
    assert f"revoked API key {bob_key[:12]} " in result.out and bob_key[13:] not in result.out
    # pasted with its quotes: refused naming the prefix only, here and in the log
    refused_in_one_line(run("key", "revoke", f"'{SECRET}'"), "etk_0123abcd_...", secret=SECRET)
    assert SECRET[13:] not in logged() and bob_key[13:] not in logged()


def test_the_parser_itself_refuses_a_key_given_as_the_file_without_echoing_it(capsys):
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["whoami", "--api-key-file", SECRET])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "this is API key etk_0123abcd itself" in err and "revoke" in err
    assert SECRET[13:] not in err


def test_after_double_dash_api_key_is_only_a_value(cli, tmp_path):
    result = cli("--db", f"sqlite:///{tmp_path / 'x.db'}", "prosumer", "show", "--", "--api-key")
    assert result.code == 2
    assert "--api-key is refused" not in result.err
    assert "--api-key" in result.err  # the prosumer that does not exist


def test_the_parser_itself_refuses_a_key_without_echoing_it(capsys):
    """For code that parses without `cli.main` (tests, the other front ends' helpers)."""
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(["whoami", "--api-key", SECRET])
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert "--api-key is refused" in err and SECRET[13:] not in err
    assert "revoke it (`energy-tui key revoke etk_0123abcd`)" in err


def leaf_parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    if not subs:
        yield path, parser
    for sub in subs:
        for name, child in sub.choices.items():
            yield from leaf_parsers(child, (*path, name))


def test_every_command_with_a_key_option_takes_it_from_a_file_and_hides_api_key():
    with_keys = 0
    for path, parser in leaf_parsers(build_parser()):
        options = {s: a for a in parser._actions for s in a.option_strings}
        if "--api-key-file" not in options:
            assert "--api-key" not in options, path
            continue
        with_keys += 1
        assert options["--api-key-file"].dest == "api_key", path
        assert options["--api-key"].help == argparse.SUPPRESS, path
        text = parser.format_help()
        assert "--api-key-file FILE" in text and "ENERGY_TUI_API_KEY" in text, path
        assert "--api-key KEY" not in text, path
    assert with_keys > 20


def test_a_given_key_never_shows_in_a_repr():
    assert SECRET not in repr(GivenKey(SECRET, "/some/file"))
    assert "/some/file" in repr(GivenKey(SECRET, "/some/file"))


def test_key_files_made_by_the_test_helper_are_owner_only():
    path = Path(key_file("etk_whatever")[1])
    assert path.stat().st_mode & 0o777 == 0o600


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_dash_asks_for_the_key_without_echo(cli, bob_key, backend, monkeypatch):
    asked: list[str] = []
    monkeypatch.setattr(sys, "stdin", Terminal())
    monkeypatch.setattr(getpass, "getpass", lambda prompt: asked.append(prompt) or bob_key)
    assert owner(cli("--db", backend.url, "whoami", "--json", "--api-key-file", "-")) == "bob"
    assert asked == ["API key: "]
    monkeypatch.setattr(getpass, "getpass", lambda prompt: "")
    refused_in_one_line(cli("whoami", "--api-key-file", "-"), "is empty")


def test_closed_standard_input_is_one_line(cli, monkeypatch):
    monkeypatch.setattr(sys, "stdin", None)
    refused_in_one_line(cli("whoami", "--api-key-file", "-"), "'-' (standard input) is closed")
