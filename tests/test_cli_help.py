"""Every command's `--help` works, and every command names a handler that exists.

The parser names each command's handler as text ("market_cmd:run_book", imported only
when the command runs: issue 15), so neither mypy nor ruff sees a misspelt one: these
tests do.
"""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Iterator

import pytest

from energy_tui.cli.commands import build_parser, handler_of


def command_paths(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every parser under `parser`, with the words that reach it."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from command_paths(child, (*path, name))


PATHS = [path for path, _ in command_paths(build_parser())]


def test_the_walk_finds_every_command():
    assert len(PATHS) > 50
    assert {("book",), ("order", "place"), ("market", "rules", "set"), ("serve",)} <= set(PATHS)


@pytest.mark.parametrize("path", PATHS, ids=lambda path: " ".join(path) or "energy-tui")
def test_help_of_every_command_prints_its_usage(cli, path):
    result = cli(*path, "--help")
    assert result.code == 0, result.err
    assert result.out.startswith(f"usage: {' '.join(('energy-tui', *path))} ")
    assert result.err == ""


def test_every_command_names_a_handler_that_takes_its_arguments():
    named = 0
    for path, parser in command_paths(build_parser()):
        name = parser.get_default("handler")
        if name is None:  # a group: its actions have the handlers
            continue
        named += 1
        handler = handler_of(argparse.Namespace(handler=name))
        assert callable(handler), path
        assert list(inspect.signature(handler).parameters) == ["args"], path
    assert named >= 40


def test_a_misspelt_handler_fails_loudly():
    with pytest.raises(AttributeError):
        handler_of(argparse.Namespace(handler="market_cmd:run_nothing"))
