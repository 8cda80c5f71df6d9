"""`energy-tui` with no command: the terminal app."""

from __future__ import annotations

import argparse
import logging

from energy_tui.cli.runtime import connected
from energy_tui.config import load_settings
from energy_tui.db.urls import parse_url
from energy_tui.errors import DatabaseUnavailable

log = logging.getLogger(__name__)


def run(args: argparse.Namespace) -> int:
    """Bring a SQLite file up to date, then run the app. An unreachable server is not
    fatal: the app shows its banner and keeps retrying."""
    try:
        with connected(args) as runtime:
            settings, url = runtime.settings, runtime.url
    except DatabaseUnavailable as exc:
        log.warning("starting without the database: %s", exc)
        settings = load_settings(getattr(args, "db", None))
        url = parse_url(settings.effective_database_url)
    from energy_tui.tui.app import make_app  # Textual loads only for the TUI

    make_app(settings, url).run()
    return 0
