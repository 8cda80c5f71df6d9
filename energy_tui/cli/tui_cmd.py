"""`energy-tui` with no command: the terminal app."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from energy_tui.tui.app import EnergyApp


def app_for(args: argparse.Namespace) -> EnergyApp:
    """The app for `energy-tui [--db URL]`. It opens the database itself, behind its
    login screen: a SQLite file is brought up to date, an unreachable server shows the
    app's banner while it keeps retrying."""
    # Textual loads only for the TUI; the settings only when a command runs (not --help)
    from energy_tui.config import load_settings
    from energy_tui.db.urls import parse_url
    from energy_tui.tui.app import make_app

    settings = load_settings(getattr(args, "db", None))
    return make_app(settings, parse_url(settings.effective_database_url))


def run(args: argparse.Namespace) -> int:
    app = app_for(args)
    app.run()
    return app.return_code or 0
