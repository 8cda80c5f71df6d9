"""Preferences the TUI remembers (the theme), kept in the TOML config file."""

from __future__ import annotations

import os
import re
import tomllib

from energy_tui import locations

_KEY = re.compile(r"^\s*theme\s*=.*$", re.MULTILINE)


def saved_theme() -> str | None:
    path = locations.config_file()
    if not path.is_file():
        return None
    try:
        value = tomllib.loads(path.read_text(encoding="utf-8")).get("theme")
    except tomllib.TOMLDecodeError:
        return None
    return value if isinstance(value, str) else None


def save_theme(name: str) -> None:
    """Set `theme = "name"` in the config file, leaving every other line as it was."""
    path = locations.config_file()
    locations.private_dir(path.parent)
    line = f'theme = "{name}"'
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    # a top-level key must come before any [table]
    text = _KEY.sub(line, text, count=1) if _KEY.search(text) else f"{line}\n{text}"
    locations.private_file(path)  # owner-only (0600) from the start, not after a write
    os.chmod(path, 0o600)
    path.write_text(text, encoding="utf-8")
