"""Logging goes to a file in the user log dir; users see messages, never tracebacks."""

from __future__ import annotations

import logging
import logging.handlers

from energy_tui import locations

_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


def setup(level: int = logging.INFO) -> None:
    """Attach the rotating log file (once per process and log file)."""
    root = logging.getLogger()
    locations.private_dir(locations.log_dir())
    path = locations.private_file(locations.log_file())
    for old in [h for h in root.handlers if getattr(h, "_energy_tui", False)]:
        if getattr(old, "baseFilename", None) == str(path):
            return
        root.removeHandler(old)
        old.close()
    handler = logging.handlers.RotatingFileHandler(
        path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._energy_tui = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
