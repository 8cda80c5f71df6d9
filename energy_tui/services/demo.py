"""A realistic, deterministic demo community: prosumers, users, meters, history, book.

Everything goes through the real services (deposits, meter readings, orders), so the
seeded database satisfies every invariant of DESIGN §3. The same seed gives the same
rows (but for the random UUIDs); time is driven by `clock.frozen`.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import logging
import math
import random
import threading
from collections.abc import Iterable, Iterator, Sequence
from decimal import Decimal

import peewee

from energy_tui import clock
from energy_tui.db.models import Session, User, db
from energy_tui.errors import DatabaseUnavailable, EnergyError
from energy_tui.services import prosumers, users
from energy_tui.services.context import Actor
from energy_tui.services.market import OrderRequest, cancel_order, place_order
from energy_tui.services.market import book as market_book
from energy_tui.services.market import rules as market_rules

CENT = Decimal("0.01")
log = logging.getLogger(__name__)
# A bot that hit an unexpected error waits this long, then carries on: the demo market
# keeps moving, and the log file has the traceback.
UNEXPECTED_PAUSE_SECONDS = 2.0


@dataclasses.dataclass(frozen=True)
class Member:
    address: str
    name: str
    kind: str
    solar_kw: Decimal  # peak generation per hour of sun
    load_kwh: Decimal  # average consumption per hour


@dataclasses.dataclass(frozen=True)
class DemoUser:
    username: str
    password: str
    role: str
    prosumer: str | None


COMMUNITY: tuple[Member, ...] = (
    *(
        Member(f"home-{i:02d}", name, "residential", Decimal(kw), Decimal(load))
        for i, (name, kw, load) in enumerate(
            (
                ("Rooftop, 3 Elm Street", "5.5", "0.6"),
                ("Solar barn, Mill Lane", "9.0", "0.8"),
                ("Terrace, 12 Quay Road", "3.2", "0.5"),
                ("Cottage, Orchard Way", "4.1", "0.4"),
                ("Eco house, Birch Close", "7.4", "0.7"),
                ("Flat roof, 8 Dock St", "2.6", "0.5"),
                ("Farmhouse, Ridge Road", "11.0", "1.1"),
                ("Bungalow, 21 Vale Ave", "3.8", "0.6"),
                ("Townhouse, 5 Mint Row", "2.9", "0.7"),
                ("Villa, Harbour View", "6.3", "0.9"),
                ("Semi, 44 Ash Grove", "3.5", "0.6"),
                ("Loft, Old Brewery", "2.2", "0.4"),
            ),
            start=1,
        )
    ),
    Member("bakery", "Corner Bakery", "commercial", Decimal("4.0"), Decimal("6.5")),
    Member("school", "Riverside School", "commercial", Decimal("18.0"), Decimal("9.0")),
    Member("grocer", "Fresh Grocer", "commercial", Decimal("2.0"), Decimal("7.5")),
    Member("office", "Harbour Offices", "commercial", Decimal("6.0"), Decimal("5.0")),
    Member("coldstore", "Quay Cold Storage", "industrial", Decimal("12.0"), Decimal("22.0")),
    Member("workshop", "Metal Workshop", "industrial", Decimal("5.0"), Decimal("14.0")),
)

USERS: tuple[DemoUser, ...] = (
    DemoUser("admin", "demo-admin-pass", "admin", None),
    DemoUser("operator", "demo-operator-pass", "operator", None),
    DemoUser("viewer", "demo-viewer-pass", "viewer", None),
    DemoUser("alice", "demo-alice-pass", "trader", "home-01"),
    DemoUser("bob", "demo-bob-pass", "trader", "bakery"),
    DemoUser("carol", "demo-carol-pass", "trader", "home-07"),
)


def solar_factor(moment: dt.datetime) -> float:
    """0 at night, 1 at solar noon (a plain sine between 06:00 and 20:00 UTC)."""
    hour = moment.hour + moment.minute / 60
    return max(0.0, math.sin((hour - 6) / 14 * math.pi)) if 6 <= hour <= 20 else 0.0


def day_level(day: dt.date) -> float:
    """How dear energy is on `day` beside the daily curve (weather, demand): a smooth,
    deterministic wander of a few cents, so days differ but history, the live book
    and the bots all agree on any given day."""
    d = day.toordinal()
    return 0.012 * math.sin(2 * math.pi * d / 9.3) + 0.008 * math.sin(2 * math.pi * d / 4.1 + 1)


def fair_price(moment: dt.datetime) -> Decimal:
    """Cheap when the sun shines (surplus), dear in the evening peak; it moves through
    the hour (the sun does), around the day's level."""
    hour = moment.hour + moment.minute / 60
    evening = max(0.0, 1 - abs(hour - 19) / 2.5)  # ramps up to 19:00 and down after
    value = 0.24 - 0.09 * solar_factor(moment) + 0.04 * evening + day_level(moment.date())
    return Decimal(str(round(value, 4)))


def trader(member: Member) -> Actor:
    return Actor(
        label=f"demo:{member.address}",
        role="trader",
        username=member.address,
        prosumer_address=member.address,
    )


def _hours(start: dt.datetime, end: dt.datetime) -> Iterator[dt.datetime]:
    moment = start
    while moment < end:
        yield moment
        moment += dt.timedelta(hours=1)


def seed(
    *,
    seed_value: int = 7,
    days: int = 30,
    now: dt.datetime,
    rounds: int,
) -> list[DemoUser]:
    """Fill an empty database with the demo community; return the demo users."""
    rng = random.Random(seed_value)
    operator = Actor(label="demo:seed", role="admin")
    start = (now - dt.timedelta(days=days)).replace(minute=0, second=0, microsecond=0)
    with clock.frozen(start) as frozen:
        _members(operator)
        for user in USERS:
            users.add_user(
                operator,
                user.username,
                f"{user.username}@demo.energy",
                user.password,
                rounds=rounds,
                role=user.role,
                prosumer_address=user.prosumer,
            )
        for moment in _hours(start, now):
            frozen.set(moment)
            _meter_hour(operator, moment, rng)
            _trade_hour(frozen, moment, min(now, moment + dt.timedelta(hours=1)), rng)
        frozen.set(now - dt.timedelta(minutes=1))
        live_book(rng, now)
    return list(USERS)


def _members(operator: Actor) -> None:
    for member in COMMUNITY:
        prosumers.add_prosumer(operator, member.address, member.name, member.kind)
        deposit = 2000 if member.kind == "residential" else 20000
        prosumers.deposit(operator, member.address, Decimal(deposit))
    prosumers.add_prosumer(
        operator, market_rules.current().grid_operator_address, "Harbour Grid Co.", "grid_operator"
    )


def _meter_hour(operator: Actor, moment: dt.datetime, rng: random.Random) -> None:
    """One reading every 6 hours per member, from its solar and load profile."""
    if moment.hour % 6:
        return
    for member in COMMUNITY:
        sun = sum(solar_factor(moment + dt.timedelta(hours=h)) for h in range(6))
        weather = 0.6 + 0.4 * rng.random()
        generated = (member.solar_kw * Decimal(sun * weather)).quantize(CENT)
        consumed = (member.load_kwh * 6 * Decimal(0.8 + 0.4 * rng.random())).quantize(CENT)
        if generated or consumed:
            prosumers.add_meter_reading(operator, member.address, generated, consumed)


def _trade_hour(
    frozen: clock.frozen, moment: dt.datetime, end: dt.datetime, rng: random.Random
) -> None:
    """A few orders around the fair price, at random moments of the hour (up to `end`):
    sellers have surplus, buyers have load; busier when the sun or the evening peak is
    on, and each at the fair price of its own minute give or take a little noise."""
    if not 6 <= moment.hour <= 22:
        return
    busy = 0.5 + solar_factor(moment) + (0.6 if 17 <= moment.hour <= 21 else 0.0)
    count = max(1, round(rng.uniform(3, 8) * busy))
    span = int((end - moment).total_seconds())
    for second in sorted(rng.randrange(max(1, span)) for _ in range(count)):
        frozen.set(moment + dt.timedelta(seconds=second))
        noise = Decimal(str(round(rng.gauss(0, 0.006), 4)))
        _random_order(rng, fair_price(clock.now()) + noise, spread=10, ioc_share=0.4)


def _random_order(
    rng: random.Random,
    fair: Decimal,
    spread: int,
    ioc_share: float,
    members: Sequence[Member] = COMMUNITY,
) -> None:
    member = rng.choice(members)
    selling = member.kind == "residential" and rng.random() < 0.8
    side = "sell" if selling else "buy"
    tif_is_ioc = rng.random() < ioc_share
    # takers (IOC) reach across the spread; resting orders wait near the fair price
    offset = Decimal(rng.randint(0, spread) if tif_is_ioc else rng.randint(-spread, spread))
    offset /= 1000
    price = max(Decimal("0.05"), fair + offset if side == "buy" else fair - offset)
    amount = Decimal(rng.randint(50, 1200)) / 100
    tif = "ioc" if tif_is_ioc else "gtc"
    expires = clock.now() + dt.timedelta(hours=rng.choice((1, 2, 4)))
    # not enough energy or WATT, or it would self-cross: a real trader moves on
    with contextlib.suppress(EnergyError):
        place_order(trader(member), OrderRequest(side, amount, price, tif, expires))


def live_book(rng: random.Random, now: dt.datetime) -> None:
    """Resting orders on both sides of the current fair price."""
    fair = fair_price(now)
    for i in range(24):
        side = "buy" if i % 2 else "sell"
        step = Decimal(rng.randint(1, 30)) / 1000
        price = fair - step if side == "buy" else fair + step
        candidates = [m for m in COMMUNITY if (m.kind == "residential") == (side == "sell")]
        member = rng.choice(candidates)
        amount = Decimal(rng.randint(100, 1500)) / 100
        expires = now + dt.timedelta(hours=24)
        try:
            place_order(trader(member), OrderRequest(side, amount, price, "gtc", expires))
        except EnergyError:
            continue


def logged_in_prosumers(now: dt.datetime, lifetime: dt.timedelta) -> set[str]:
    """The prosumers whose users are logged in: an open session younger than `lifetime`
    (one left open by a crash stops counting when it would have expired)."""
    query = (
        User.select(User.prosumer)
        .join(Session)
        .where(
            Session.ended_at.is_null()
            & (Session.created_at > now - lifetime)
            & User.prosumer.is_null(False)
        )
    )
    return {address for (address,) in query.tuples()}


class Bots:
    """Market makers and takers that keep the demo market moving, one thread each.

    They trade through the market service like any user: orders rest near a price
    that follows the daily solar curve, some cross at once, some are cancelled. They
    leave alone the prosumers of `spare` and of every logged-in user (found through
    the sessions table, so the browser tabs of `energy-tui serve --demo`, each its own
    process, count too): what a person sees in "My orders" and "My trades" is theirs.
    """

    def __init__(
        self,
        count: int,
        speed: float,
        seed_value: int,
        *,
        spare: Iterable[str] = (),
        session_lifetime: dt.timedelta = dt.timedelta(hours=12),
    ) -> None:
        self.count, self.speed, self.seed_value = count, speed, seed_value
        self.spare, self.session_lifetime = frozenset(spare), session_lifetime
        self.stopping = threading.Event()
        self.threads: list[threading.Thread] = []
        self.steps = 0

    def start(self) -> None:
        for index in range(self.count):
            thread = threading.Thread(
                target=self._run, args=(index,), daemon=True, name=f"demo-bot-{index}"
            )
            thread.start()
            self.threads.append(thread)

    def stop(self) -> None:
        self.stopping.set()
        for thread in self.threads:
            thread.join(timeout=5)

    def _run(self, index: int) -> None:
        rng = random.Random(self.seed_value * 1000 + index)
        delay = max(0.05, 1.5 / self.speed)
        while not self.stopping.wait(delay * (0.5 + rng.random())):
            try:
                with db.connection_context():
                    self.step(rng)
            except DatabaseUnavailable:
                self.stopping.wait(2)
            except (peewee.OperationalError, peewee.InterfaceError):
                log.warning("demo bot %s: database busy or gone", index, exc_info=True)
                self.stopping.wait(2)
            except Exception:  # a thread behind the app's screen: nobody else would see it
                log.exception("demo bot %s: unexpected error; carrying on", index)
                self.stopping.wait(UNEXPECTED_PAUSE_SECONDS)

    def step(self, rng: random.Random) -> None:
        """One bot action: cancel a stale order, top up a meter, or place an order."""
        self.steps += 1
        members = self.free_members()
        if not members:
            return
        member = rng.choice(members)
        roll = rng.random()
        if roll < 0.15:
            mine = market_book.open_orders(member.address)
            if mine:
                with contextlib.suppress(EnergyError):
                    cancel_order(trader(member), rng.choice(mine).id)
            return
        if roll < 0.25 and member.kind == "residential":
            with contextlib.suppress(EnergyError):
                prosumers.add_meter_reading(
                    Actor(label="demo:meter", role="admin"),
                    member.address,
                    generated=(member.solar_kw * Decimal(0.25 + rng.random())).quantize(CENT),
                )
            return
        fair = fair_price(clock.now())
        _random_order(rng, fair, spread=12, ioc_share=0.35, members=members)

    def free_members(self) -> list[Member]:
        """The members the bots may act for now."""
        busy = self.spare | logged_in_prosumers(clock.now(), self.session_lifetime)
        return [m for m in COMMUNITY if m.address not in busy]
