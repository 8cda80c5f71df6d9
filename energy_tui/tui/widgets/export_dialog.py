"""Ask where to write an export, write it in a worker, say where it went (or why not).

The dialog stays open after writing so the path can be read (and corrected and
retried after an error); it is dismissed with the written path, or None. What may be
written is the service's decision (export.check_target); a file that is already there
is replaced only after a confirmation that opens on No.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.markup import escape
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from energy_tui.errors import DatabaseUnavailable, EnergyError
from energy_tui.services.market.export import TargetExists
from energy_tui.tui.widgets.confirm import Confirm
from energy_tui.tui.widgets.fields import TextField


def target_path(typed: str, default_name: str) -> Path:
    """The file to write: `~` expanded, relative to the working directory, and the
    default file name added when the path names an existing folder."""
    path = Path(typed.strip()).expanduser().absolute()
    return path / default_name if path.is_dir() else path


class ExportDialog(ModalScreen[Path | None]):
    DEFAULT_CSS = """
    ExportDialog #export-dialog { width: 72; max-width: 100%; }
    ExportDialog #export-path { margin-bottom: 0; }
    ExportDialog #export-result { height: auto; margin-top: 1; }
    ExportDialog #export-result.-error { color: $text-error; }
    ExportDialog #export-result.-ok { color: $text-success; }
    """
    BINDINGS = [Binding("escape", "close", "Close")]

    def __init__(
        self, title: str, detail: str, default: Path, write: Callable[[Path, bool], int]
    ) -> None:
        """`write(path, overwrite)` runs in a thread worker and returns the number of
        rows written; it raises TargetExists for a file that is there unless told to
        overwrite it."""
        super().__init__()
        self.title_text, self.detail, self.default, self.write = title, detail, default, write
        self.written: Path | None = None

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog", id="export-dialog"):
            yield Label(self.title_text, classes="form-title")
            yield Static(self.detail, classes="form-hint")
            yield Label("Write to file")
            yield TextField(str(self.default), id="export-path")
            yield Static("", id="export-result")
            with Horizontal(classes="buttons"):
                yield Button("Export (Enter)", id="export", variant="primary")
                yield Button("Close (Esc)", id="close")

    def on_mount(self) -> None:
        path_input = self.query_one("#export-path", Input)
        path_input.focus()
        path_input.cursor_position = len(path_input.value)

    @on(Input.Submitted, "#export-path")
    @on(Button.Pressed, "#export")
    def export(self) -> None:
        typed = self.query_one("#export-path", Input).value
        if not typed.strip():
            self.show_result("Type the path of the file to write.", error=True)
            return
        self.start_writing(typed)

    def start_writing(self, typed: str, overwrite: bool = False) -> None:
        self.written = None
        self.query_one("#export", Button).disabled = True
        self.show_result("Writing...")
        self.run_worker(
            lambda: self._write(typed, overwrite), thread=True, exclusive=True, exit_on_error=False
        )

    def _write(self, typed: str, overwrite: bool) -> None:
        """In the worker: resolve the path (file system), query and write."""
        try:
            path = target_path(typed, self.default.name)
            count = self.write(path, overwrite)
        except TargetExists:
            self.app.call_from_thread(self.ask_overwrite, path)
            return
        except EnergyError as exc:
            self.app.call_from_thread(self.show_result, str(exc), True)
            if isinstance(exc, DatabaseUnavailable):
                raise  # the app's banner too
            return
        self.app.call_from_thread(self.done, path, count)

    def ask_overwrite(self, path: Path) -> None:
        self.show_result(f"{path} already exists.", error=True)
        question = Confirm(
            f"Replace {path.name}?",
            f"{escape(str(path))}\nalready exists. Replacing it loses what it holds.",
            yes="Replace",
            safe=True,
        )
        self.app.push_screen(question, lambda yes: self.overwrite_answered(path, yes))

    def overwrite_answered(self, path: Path, yes: bool | None) -> None:
        if yes:
            self.start_writing(str(path), overwrite=True)
        else:
            self.show_result(f"{path} already exists: type another name.", error=True)
            self.query_one("#export-path", Input).focus()

    def done(self, path: Path, count: int) -> None:
        self.written = path
        self.query_one("#export-path", Input).value = str(path)
        noun = "trade" if count == 1 else "trades"
        self.show_result(f"Wrote {count:,} {noun} to\n{path}")
        self.query_one("#export", Button).disabled = False
        self.query_one("#close", Button).focus()

    def show_result(self, message: str, error: bool = False) -> None:
        result = self.query_one("#export-result", Static)
        result.update(Text(message))  # paths and errors are not markup
        result.set_class(error, "-error")
        result.set_class(not error and self.written is not None, "-ok")
        if error:
            self.query_one("#export", Button).disabled = False

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(self.written)
