"""Time-ordered UUIDs (the UUID version 7 layout of RFC 9562).

New rows then land at the right edge of the primary-key index instead of on a random
page, which keeps inserts cheap on every backend; they are still valid UUIDs for the
seed schema's UUID columns.
"""

from __future__ import annotations

import os
import time
import uuid


def new_id() -> uuid.UUID:
    millis = time.time_ns() // 1_000_000
    value = (millis & (2**48 - 1)) << 80 | int.from_bytes(os.urandom(10), "big")
    value = (value & ~(0xF << 76)) | (0x7 << 76)  # version 7
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 4122 variant
    return uuid.UUID(int=value)
