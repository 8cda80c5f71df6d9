"""API keys for CLI tests, given the way users must: in an owner-only file."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

_folder: Path | None = None
_files: dict[str, str] = {}


def key_file(key: str) -> tuple[str, str]:
    """("--api-key-file", PATH): PATH a 0600 file holding `key` and a line break, as
    `key create ... > file` leaves it (the same key, the same file: one per test run)."""
    global _folder
    if key not in _files:
        if _folder is None:
            _folder = Path(tempfile.mkdtemp(prefix="energy-tui-keys-"))
            atexit.register(shutil.rmtree, _folder, ignore_errors=True)
        path = _folder / f"key-{len(_files)}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as file:
            file.write(key + "\n")
        _files[key] = str(path)
    return ("--api-key-file", _files[key])
