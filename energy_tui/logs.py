"""Logging goes to a file in the user log dir; users see messages, never tracebacks."""

from __future__ import annotations

import contextlib
import logging
import logging.handlers
import os
import sys
from io import TextIOWrapper
from pathlib import Path

from energy_tui import locations
from energy_tui.redact import without_secrets

_FORMAT = "%(asctime)s %(levelname)s %(process)d %(name)s: %(message)s"


class _LogFile(logging.handlers.RotatingFileHandler):
    """The rotating log file. Every file it opens, the fresh one after each rotation
    too, is owner-only (0600): the log may name users, addresses and what they did.
    When it cannot be written (a full disk, a folder made read-only or removed), the
    user is told once, in one line, and the run goes on: logging's default prints a
    traceback on the terminal for every record."""

    _failed = False

    def _open(self) -> TextIOWrapper:
        locations.private_file(Path(self.baseFilename))
        os.chmod(self.baseFilename, 0o600)  # one left by an older version, say
        return super()._open()

    def rotate(self, source: str, dest: str) -> None:
        super().rotate(source, dest)
        if os.path.exists(dest):
            os.chmod(dest, 0o600)

    def emit(self, record: logging.LogRecord) -> None:
        if not self._failed:
            super().emit(record)

    def handleError(self, record: logging.LogRecord) -> None:
        if not self._failed:
            self._failed = True
            _warn(f"cannot write the log file {self.baseFilename} ({_reason()})")
        # Let go of the file: what is still buffered cannot be written either, and
        # flushing it again at exit would fail once more.
        stream, self.stream = self.stream, None
        with contextlib.suppress(OSError, ValueError):
            if stream is not None:
                stream.close()


class _Formatter(logging.Formatter):
    """Every line, its traceback too, with any API key cut to its prefix and any login
    token left out: a message may repeat what a user typed or a client sent (a path, a
    value), and the rule is that a secret is never written after it was made."""

    def format(self, record: logging.LogRecord) -> str:
        return without_secrets(super().format(record))


def _reason() -> str:
    exc = sys.exc_info()[1]
    if isinstance(exc, OSError) and exc.strerror:
        return exc.strerror
    return type(exc).__name__ if exc is not None else "unknown error"


def _warn(problem: str) -> None:
    # With no usable stderr either (closed, or None), there is nobody left to tell.
    with contextlib.suppress(OSError, ValueError, AttributeError):
        sys.stderr.write(f"energy-tui: {problem}; this run is not logged\n")


def setup(level: int = logging.INFO) -> None:
    """Attach the rotating log file (once per process and log file)."""
    root = logging.getLogger()
    path = locations.log_file()
    for old in [h for h in root.handlers if getattr(h, "_energy_tui", False)]:
        if getattr(old, "baseFilename", None) == str(path):
            return
        root.removeHandler(old)
        old.close()
    try:
        locations.private_dir(locations.log_dir())
        locations.private_file(path)
        handler: logging.Handler = _LogFile(
            path, maxBytes=2_000_000, backupCount=3, encoding="utf-8"
        )
    except OSError as exc:
        _warn(f"cannot open the log file {path} ({exc.strerror or type(exc).__name__})")
        # Records are dropped rather than left to logging's last resort, which prints
        # them, tracebacks and all, on the terminal.
        handler = logging.NullHandler()
    handler.setFormatter(_Formatter(_FORMAT))
    handler._energy_tui = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
