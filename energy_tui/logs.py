"""Logging goes to a file in the user log dir; users see messages, never tracebacks."""

from __future__ import annotations

import logging
import logging.handlers
import os
from io import TextIOWrapper
from pathlib import Path

from energy_tui import locations

_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


class PrivateRotatingFileHandler(logging.handlers.RotatingFileHandler):
    """Every log file it opens, the fresh one after each rotation too, is owner-only
    (0600): the log may name users, addresses and what they did."""

    def _open(self) -> TextIOWrapper:
        locations.private_file(Path(self.baseFilename))
        os.chmod(self.baseFilename, 0o600)  # one left by an older version, say
        return super()._open()

    def rotate(self, source: str, dest: str) -> None:
        super().rotate(source, dest)
        if os.path.exists(dest):
            os.chmod(dest, 0o600)


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
    handler = PrivateRotatingFileHandler(path, maxBytes=2_000_000, backupCount=3, encoding="utf-8")
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler._energy_tui = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
