"""How long one login takes at a bcrypt cost (default: the configured one, 12 unless set).

    python benchmarks/login.py [--rounds 12] [--repeat 5] [--db URL --reset]

Prints the median time of a successful login, a wrong password, an unknown user and a
password over 72 bytes: each should cost about one bcrypt call, whoever asks.
"""

from __future__ import annotations

import contextlib
import dataclasses
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import parser, prepare
from energy_tui.config import Settings, load_settings
from energy_tui.errors import AuthError
from energy_tui.services import auth, users
from energy_tui.services.context import Actor

PASSWORD = "correct horse battery staple"


def seconds(attempt: Callable[[], object]) -> float:
    start = time.perf_counter()
    with contextlib.suppress(AuthError):  # the failures are what is timed
        attempt()
    return time.perf_counter() - start


def cases(settings: Settings) -> dict[str, Callable[[], object]]:
    def login(name: str, password: str) -> Callable[[], object]:
        return lambda: auth.authenticate(name, password, None, settings)

    return {
        "successful login": login("bench", PASSWORD),
        "wrong password": login("bench", "not the password"),
        "unknown user": login("nobody", PASSWORD),
        "password > 72 bytes": login("bench", "é" * 40),
    }


def main() -> None:
    p = parser(__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=None, help="bcrypt cost (default: settings)")
    p.add_argument("--repeat", type=int, default=5)
    args = p.parse_args()
    settings = load_settings()
    rounds = args.rounds or settings.bcrypt_rounds
    # failures never lock the account during the run
    settings = dataclasses.replace(settings, bcrypt_rounds=rounds, login_max_failures=10**6)
    prepare(args.db, args.reset)
    users.add_user(Actor.local_operator(), "bench", "bench@example.org", PASSWORD, rounds=rounds)
    print(f"bcrypt cost {rounds}, median of {args.repeat} attempts each (one warm-up first):")
    for label, attempt in cases(settings).items():
        seconds(attempt)
        times = [seconds(attempt) for _ in range(args.repeat)]
        print(f"  {label:<20} {statistics.median(times) * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
