"""Secrets cut out of text that is shown, logged or stored: what a user typed may be an
API key (`prosumer show KEY`, `DELETE /api/v1/keys/KEY`) or a login token, and a refusal
or a log line repeating it would print it again after its creation moment.

Cheap to import (only `re`): `cli.main` uses it before any command loads.
"""

from __future__ import annotations

import re

# An API key (services.keys: `etk_` + 8 hex characters, '_', 43 secret ones), or most of
# one (a paste cut short), in any case (an HTTP client upper-cases a method). The prefix is
# public (`key list` shows it); the rest is secret.
_KEY_IN_TEXT = re.compile(r"(etk_[0-9a-f]{8})_[A-Za-z0-9_-]{16,}", re.ASCII | re.IGNORECASE)
# A login token (a JWT: base64url header, claims, signature; the header always starts
# `{"` so `eyJ`). Nothing of it is kept: the claims name the user and the session.
_TOKEN_IN_TEXT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{16,}", re.ASCII)
TOKEN_SHOWN = "<login token>"


def key_prefix_in(text: str) -> str | None:
    """The public prefix of an API key held in `text`, as `key list` shows it, else None."""
    found = _KEY_IN_TEXT.search(text)
    return None if found is None else found[1].lower()


def without_secrets(text: str) -> str:
    """`text` with each API key in it cut to its public prefix (`etk_0123abcd_...`) and
    each login token replaced by TOKEN_SHOWN."""
    text = _KEY_IN_TEXT.sub(lambda found: f"{found[1]}_...", text)
    if "eyJ" in text:
        text = _TOKEN_IN_TEXT.sub(TOKEN_SHOWN, text)
    return text
