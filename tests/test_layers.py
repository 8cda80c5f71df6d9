"""Layers: db/ and services/ never import textual (STYLE: "a small test that imports
services with textual blocked")."""

from __future__ import annotations

import subprocess
import sys
import textwrap

BLOCKER = textwrap.dedent(
    """
    import importlib, pkgutil, sys

    class NoTextual:
        def find_spec(self, name, path=None, target=None):
            if name == "textual" or name.startswith("textual."):
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, NoTextual())
    """
)


def run_blocked(body: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", BLOCKER + textwrap.dedent(body)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_blocker_really_blocks_textual():
    result = run_blocked("import textual\n")
    assert result.returncode != 0
    assert "textual is blocked in this test" in result.stderr


def test_db_and_every_services_module_import_without_textual():
    result = run_blocked(
        """
        import energy_tui.db
        import energy_tui.services

        imported = []
        for package in (energy_tui.db, energy_tui.services):
            for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
                importlib.import_module(info.name)
                imported.append(info.name)
        assert not any(m == "textual" or m.startswith("textual.") for m in sys.modules)
        print("\\n".join(imported))
        """
    )
    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    assert {
        "energy_tui.db.connect",
        "energy_tui.db.models",
        "energy_tui.db.migrations",
        "energy_tui.db.migrations.m0001_baseline",
        "energy_tui.services.users",
        "energy_tui.services.prosumers",
        "energy_tui.services.audit",
        "energy_tui.services.validation",
    } <= imported


def test_settings_and_errors_import_without_textual():
    result = run_blocked(
        """
        import energy_tui.config, energy_tui.errors, energy_tui.locations, energy_tui.logs
        assert "textual" not in sys.modules
        """
    )
    assert result.returncode == 0, result.stderr


def test_front_ends_do_not_import_each_other():
    """The app (and the HTTP API) bind the database through `energy_tui.runtime`, the
    module below all front ends, never through the CLI's modules (DESIGN §1)."""
    import ast
    from pathlib import Path

    package = Path(__file__).resolve().parent.parent / "energy_tui"
    offenders = []
    for front_end, others in (("tui", ("cli", "api")), ("api", ("cli", "tui"))):
        for path in sorted((package / front_end).rglob("*.py")):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                names = []
                if isinstance(node, ast.ImportFrom) and node.module:
                    names = [node.module]
                elif isinstance(node, ast.Import):
                    names = [alias.name for alias in node.names]
                for name in names:
                    if any(name.startswith(f"energy_tui.{other}") for other in others):
                        offenders.append(f"{path.relative_to(package)}: {name}")
    assert offenders == []
