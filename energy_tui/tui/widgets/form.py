"""A modal form whose submission runs a service call in a worker and shows the service's
ValidationError under the field it names (or above the buttons when it names none)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Footer, Input, Label, Select, Static

from energy_tui.errors import DatabaseUnavailable, EnergyError, SessionChanged, ValidationError

if TYPE_CHECKING:
    from energy_tui.tui.app import EnergyApp

T = TypeVar("T")
Values = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Field:
    """One input of a form. `errors_of` names the service's fields reported here
    (`password` errors under a field called `new`, say)."""

    name: str
    label: str
    kind: Literal["text", "password", "select", "checks"] = "text"
    placeholder: str = ""
    value: str = ""
    choices: tuple[str, ...] = ()
    checked: tuple[str, ...] = ()
    restrict: str | None = None
    max_length: int = 0
    errors_of: tuple[str, ...] = ()


class FormModal(ModalScreen[T | None], Generic[T]):
    """Dismissed with whatever `submit(values)` returns, or None when cancelled.

    `submit` runs in a thread worker through the app's bridge (it may call several
    services); the typed values live only in this screen and that call.
    """

    BINDINGS = [
        Binding("ctrl+s", "submit", "Save"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        title: str,
        fields: list[Field],
        submit: Callable[[Values], T],
        *,
        hint: str = "",
        submit_label: str = "Save",
    ) -> None:
        super().__init__()
        self.title_text, self.fields, self.submit_fn = title, fields, submit
        self.hint, self.submit_label = hint, submit_label

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog form-dialog"):
            yield Label(self.title_text, classes="form-title")
            if self.hint:
                yield Static(self.hint, classes="form-hint")
            for field in self.fields:
                with Horizontal(classes="form-row"):
                    yield Label(field.label, classes="form-label")
                    yield from self._inputs(field)
                yield Static("", id=f"{field.name}-error", classes="field-error")
            yield Static("", id="form-error", classes="form-error")
            with Horizontal(classes="buttons"):
                yield Button(f"{self.submit_label} (Ctrl+S)", id="submit", variant="primary")
                yield Button("Cancel (Esc)", id="cancel")
        yield Footer()

    def _inputs(self, field: Field) -> ComposeResult:
        if field.kind == "select":
            options = [(choice, choice) for choice in field.choices]
            yield Select(options, value=field.value, id=field.name, allow_blank=False, compact=True)
        elif field.kind == "checks":
            for choice in field.choices:
                yield Checkbox(
                    choice,
                    choice in field.checked,
                    id=f"{field.name}-{choice}",
                    classes=f"checks-{field.name}",
                    compact=True,
                )
        else:
            yield Input(
                value=field.value,
                placeholder=field.placeholder,
                password=field.kind == "password",
                restrict=field.restrict,
                max_length=field.max_length,
                id=field.name,
                compact=True,
            )

    def on_mount(self) -> None:
        for error in self.query(".field-error, .form-error"):
            error.display = False
        first = next(iter(self.query("Input, Select, Checkbox")), None)
        if first is not None:
            first.focus()
        # who the form was opened as: the submission is refused if they have changed
        self.opened_as = self.energy.actor

    @property
    def energy(self) -> EnergyApp:
        return self.app  # type: ignore[return-value]

    def values(self) -> Values:
        result: Values = {}
        for field in self.fields:
            if field.kind == "checks":
                result[field.name] = tuple(
                    c for c in field.choices if self.query_one(f"#{field.name}-{c}", Checkbox).value
                )
            elif field.kind == "select":
                result[field.name] = str(self.query_one(f"#{field.name}", Select).value)
            else:
                result[field.name] = self.query_one(f"#{field.name}", Input).value
        return result

    # -- submitting -------------------------------------------------------------------

    @on(Input.Submitted)
    def next_or_submit(self, event: Input.Submitted) -> None:
        """Enter moves to the next text field; on the last one it submits."""
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        if index + 1 < len(inputs):
            inputs[index + 1].focus()
        else:
            self.action_submit()

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        values = self.values()
        self.show_errors(None, "")
        self.query_one("#submit", Button).disabled = True
        self.run_worker(
            lambda: self._run(values),
            thread=True,
            exclusive=True,
            group="form",
            exit_on_error=False,
        )

    def _run(self, values: Values) -> None:
        try:
            result = self.energy.bridge.call_as(self.opened_as, self.submit_fn, values)
        except ValidationError as exc:
            self.app.call_from_thread(self.show_errors, exc.field, str(exc))
        except SessionChanged:
            # prepared for the user as they were: closed (the app says what changed), to
            # be opened again as they are now
            self.app.call_from_thread(self.dismiss, None)
        except DatabaseUnavailable:
            self.app.call_from_thread(
                self.show_errors, None, "The database is unreachable: try again when it is back."
            )
            raise  # the app's banner
        except EnergyError as exc:  # permission denied, wrong password, ...
            self.app.call_from_thread(self.show_errors, None, str(exc))
        else:
            self.app.call_from_thread(self._done, result)

    def _done(self, result: T) -> None:
        self.dismiss(result)

    def show_errors(self, field: str | None, message: str) -> None:
        """Show `message` under the field the service named, clearing the others."""
        target = self._field_for(field)
        for f in self.fields:
            self._mark(f, message if f is target else "")
        general = self.query_one("#form-error", Static)
        general.update(message if target is None else "")
        general.display = bool(message) and target is None
        self.query_one("#submit", Button).disabled = False

    def _field_for(self, name: str | None) -> Field | None:
        if name is None:
            return None
        return next((f for f in self.fields if name == f.name or name in f.errors_of), None)

    def _mark(self, field: Field, message: str) -> None:
        error = self.query_one(f"#{field.name}-error", Static)
        error.update(message)
        error.display = bool(message)
        for widget in self._widgets_of(field):
            widget.set_class(bool(message), "-invalid")
        if message:
            self._widgets_of(field)[0].focus()

    def _widgets_of(self, field: Field) -> list[Widget]:
        if field.kind == "checks":
            return list(self.query(f".checks-{field.name}"))
        return [self.query_one(f"#{field.name}")]

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
