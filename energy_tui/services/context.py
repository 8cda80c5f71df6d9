"""Who is acting: the actor every service call is made for."""

from __future__ import annotations

import dataclasses
import getpass
import ipaddress
import os
import uuid


def ssh_client_ip(environ: dict[str, str] | None = None) -> str | None:
    """The client address of an SSH login (`SSH_CLIENT="ip port port"`), if any and if it
    is an IP address (anything else would only be noise in the audit log)."""
    value = (environ if environ is not None else os.environ).get("SSH_CLIENT", "").split()
    try:
        return str(ipaddress.ip_address(value[0])) if value else None
    except ValueError:
        return None


@dataclasses.dataclass(frozen=True)
class Actor:
    """The user (or local operator) on whose behalf a service runs.

    `permissions` is set when the actor came in through an API key: the key's
    scopes then narrow what the role allows.
    """

    label: str
    role: str
    user_id: uuid.UUID | None = None
    username: str | None = None
    prosumer_address: str | None = None
    api_key_id: uuid.UUID | None = None
    permissions: frozenset[str] | None = None
    ip_address: str | None = None

    @classmethod
    def local_operator(cls) -> Actor:
        """Someone with a shell on the machine and the database settings: full rights,
        as with any database admin tool. Audited as the OS user."""
        try:
            name = getpass.getuser()
        except (KeyError, OSError):
            name = f"uid{os.getuid()}"
        return cls(label=f"os:{name}", role="admin", ip_address=ssh_client_ip())
