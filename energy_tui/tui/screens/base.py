"""What every top-level screen shares: header, banner, footer, database workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from textual import on
from textual.events import Resize
from textual.screen import Screen
from textual.widgets import Footer
from textual.worker import Worker

if TYPE_CHECKING:
    from energy_tui.services.context import Actor
    from energy_tui.tui.app import EnergyApp

T = TypeVar("T")
COMPACT_FOOTER_BELOW = 100  # columns


class DataScreen(Screen[None]):
    """A screen that loads through services in thread workers and refreshes when the
    market moves (the app's `market_changed` signal)."""

    # Their styles load with the first of them, after the login: the login screen
    # paints with app.tcss alone.
    CSS_PATH = "../screens.tcss"

    @property
    def energy(self) -> EnergyApp:
        return self.app  # type: ignore[return-value]

    @property
    def actor(self) -> Actor:
        """Who the logged-in user acts as: these screens open only after a login."""
        actor = self.energy.actor
        if actor is None:
            raise RuntimeError(f"{type(self).__name__} without a login")
        return actor

    @on(Resize)
    def compact_footer(self, event: Resize) -> None:
        """Below 100 columns the footer drops its spacing, so that the app's keys (log
        out among them) still fit after the screen's own."""
        for footer in self.query(Footer):
            footer.compact = event.size.width < COMPACT_FOOTER_BELOW

    def on_mount(self) -> None:
        self.energy.market_changed.subscribe(self, lambda _version: self.refresh_data())
        self.energy.session_changed.subscribe(self, lambda _actor: self.follow_actor())
        self.refresh_data()

    def follow_actor(self) -> None:
        """The user's role or prosumer changed: show what they may see now; override to
        re-evaluate more (the order book's ticket)."""
        self.refresh_bindings()
        self.refresh_data()

    def on_screen_resume(self) -> None:
        self.refresh_data()

    def refresh_data(self) -> None:
        """Reload what the screen shows; override."""

    def run_db(
        self,
        fn: Callable[..., T],
        *args: Any,
        then: Callable[[T], None] | None = None,
        group: str = "db",
        exclusive: bool = True,
    ) -> Worker[None]:
        """Call a service in a thread worker; hand the result to `then` on the UI thread.

        Errors reach the app's single handler (banner, notification or log).
        """

        def job() -> None:
            result = self.energy.bridge.call(fn, *args)
            if then is not None:
                self.app.call_from_thread(then, result)

        return self.run_worker(
            job,
            thread=True,
            group=group,
            exclusive=exclusive,
            exit_on_error=False,
            name=getattr(fn, "__name__", "db"),
        )
