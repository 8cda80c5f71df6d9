"""Command-line arguments: ASCII whole numbers in range, negative numbers as values, UTF-8
only, and every usage mistake in one line with exit status 2 before anything connects."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from energy_tui.cli.commands import build_parser

# str.isdigit() takes '²', which int() then refuses; int() takes Arabic-Indic and
# fullwidth digits and '1_0'. None of them is what a user typing a count means.
NOT_ASCII_COUNTS = ["\u00b2", "\u0661\u0660", "\uff11\uff10", "1_0", "+5", " 5 5"]


def assert_usage_error(result, *fragments: str) -> None:
    assert result.code == 2, result
    assert result.out == ""
    assert result.err.startswith("energy-tui: ")
    assert result.err.count("\n") == 1, result.err
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in result.err
    assert not Path("x.db").exists()  # refused before anything connected


@pytest.mark.parametrize("raw", NOT_ASCII_COUNTS)
@pytest.mark.parametrize(
    ("command", "accepted"),
    [
        (("book", "--depth"), "from 1 to 500"),
        (("trades", "list", "--limit"), "from 1 to 1000000000"),
        (("trades", "export", "--csv", "t.csv", "--limit"), "from 1 to 1000000000"),
        (("stats", "show", "--days"), "from 1 to 3660"),
        (("audit", "list", "--limit"), "from 1 to 10000"),
        (("serve", "--port"), "from 1 to 65535"),
    ],
)
def test_count_options_take_ascii_digits_only(cli, command, accepted, raw):
    result = cli("--db", "sqlite:x.db", *command, raw)
    assert_usage_error(
        result, f"{command[-1]} {raw!r} is not valid: expected a whole number {accepted}"
    )


@pytest.mark.parametrize("raw", ["0", "99999", "-1", "65536"])
def test_serve_port_outside_1_to_65535_is_refused_before_serving(cli, raw):
    assert_usage_error(cli("serve", "--port", raw), f"--port {raw!r} is not valid")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["demo", "--bots", "\u00b2"], "--bots '²' is not valid: expected a whole number from 0"),
        (["demo", "--bots", "33"], "--bots '33' is not valid"),
        (["demo", "--seed", "\u0667"], "--seed '\u0667' is not valid"),
        (["demo", "--speed", "nan"], "--speed 'nan' is not valid"),
        (["demo", "--speed", "\u0661.\u0665"], "--speed '\u0661.\u0665' is not valid"),
        (["demo", "--speed", "0"], "--speed '0' is not valid: expected a number from 0.01 to 100"),
    ],
)
def test_demo_numbers_are_checked_by_the_parser(args, message, capsys):
    # The parser alone: on a mistake it must stop; accepted, the demo would start a TUI.
    with pytest.raises(SystemExit) as stopped:
        build_parser().parse_args(args)
    assert stopped.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert message in err


def test_undecodable_argument_is_refused_in_one_line_without_echoing_it(cli):
    result = cli("user", "disable", os.fsdecode(b"\xff\xfe"))
    assert_usage_error(result, "argument 3 is not valid UTF-8 text")


def test_undecodable_option_value_names_the_option(cli):
    result = cli("--db", "sqlite:x.db", "audit", "list", "--user", os.fsdecode(b"b\xe9b"))
    assert_usage_error(result, "argument 6 (the value after --user) is not valid UTF-8")


def test_undecodable_argument_from_a_real_shell_exits_2(tmp_path):
    env = {
        **os.environ,
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    done = subprocess.run(
        [sys.executable.encode(), b"-m", b"energy_tui", b"user", b"disable", b"\xff\xfe"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert done.stderr.decode().splitlines() == [
        "energy-tui: argument 3 is not valid UTF-8 text: "
        "check the terminal's encoding or the script that passes it"
    ]


@pytest.mark.parametrize("dashes", [["--"], []])
@pytest.mark.parametrize("amount", ["-1e5", "-1", "-.5", "-1,5"])
def test_negative_amount_reaches_the_amount_check_with_or_without_dashes(cli, dashes, amount):
    result = cli("--db", "sqlite:x.db", "order", "place", "buy", *dashes, amount, "0.2")
    assert_usage_error(result, "amount ")
    assert "--api-key" not in result.err  # the amount is checked before the key


def test_negative_amount_message_says_why(cli):
    result = cli("--db", "sqlite:x.db", "order", "preview", "sell", "--", "-1e5", "0.2")
    assert_usage_error(result, "amount must be more than zero")


def test_value_argparse_takes_for_an_option_gets_a_hint_about_dashes(cli):
    result = cli("--db", "sqlite:x.db", "order", "place", "buy", "-inf", "0.2")
    assert_usage_error(
        result,
        "the following arguments are required: price",
        "'-inf' was read as an option: put -- before the first value that starts with '-'",
        "(see `energy-tui order place --help`)",
    )
    after = cli("--db", "sqlite:x.db", "order", "place", "buy", "--", "-inf", "0.2")
    assert_usage_error(after, "amount must be more than zero")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["user", "add"], "the following arguments are required: username, --email"),
        (["bogus"], "invalid choice: 'bogus'"),
        (["prosumer", "list", "--jsn"], "unrecognized arguments: --jsn"),
    ],
)
def test_usage_mistakes_are_one_line_pointing_to_help(cli, args, message):
    assert_usage_error(cli(*args), message, "--help`)")


def test_a_line_break_in_an_argument_stays_escaped_in_the_one_line_message(cli):
    # Found by tests/test_fuzz_cli.py: argparse echoed the argument as it was.
    result = cli("book", "a\nb")
    assert_usage_error(result, "unrecognized arguments: a\\nb")


def test_password_on_stdin_that_is_not_utf8_is_refused_with_exit_2(cli, monkeypatch):
    stdin = io.TextIOWrapper(io.BytesIO(b"Correct-horse-\xff-battery\n"), errors="surrogateescape")
    monkeypatch.setattr(sys, "stdin", stdin)
    result = cli(
        "--db", "sqlite:x.db", "user", "add", "bob", "--email", "b@b.org", "--password-stdin"
    )
    assert_usage_error(result, "the password on standard input is not valid UTF-8 text")
