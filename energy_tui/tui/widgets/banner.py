"""The banner that says the database is unreachable (and that the app keeps trying)."""

from __future__ import annotations

from textual.widgets import Static


class ConnectionBanner(Static):
    DEFAULT_CSS = """
    ConnectionBanner {
        dock: top;
        height: 1;
        width: 100%;
        background: $error;
        color: $text;
        text-style: bold;
        padding: 0 1;
        display: none;
    }
    ConnectionBanner.-down { display: block; }
    """

    def on_mount(self) -> None:
        self.watch(self.app, "db_online", self.show_state)

    def show_state(self, online: bool) -> None:
        url = getattr(self.app, "url", None)
        where = f" ({url})" if url else ""
        self.update(
            f"Database unreachable{where}: retrying every few seconds. Nothing you typed is lost."
        )
        self.set_class(not online, "-down")
