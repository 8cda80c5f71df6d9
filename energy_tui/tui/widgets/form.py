"""A modal form whose submission runs a service call in a worker and shows the service's
ValidationError under the field it names (or above the buttons when it names none).

Decimal fields are checked as the user types, by the parser the services use, so a
wrong amount is refused where it was typed, with the reason, before anything is asked
of the database."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, Literal, TypeVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.validation import ValidationResult, Validator
from textual.widget import Widget
from textual.widgets import Button, Checkbox, Input, Label, Select, Static

from energy_tui.errors import DatabaseUnavailable, EnergyError, SessionChanged, ValidationError
from energy_tui.services import validation
from energy_tui.tui.widgets.fields import TextField, enter_binding, enter_field, in_text_field
from energy_tui.tui.widgets.key_footer import KeyFooter
from energy_tui.tui.widgets.tick import Tick

if TYPE_CHECKING:
    from energy_tui.tui.app import EnergyApp

T = TypeVar("T")
Values = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Field:
    """One input of a form. `errors_of` names the service's fields reported here
    (`password` errors under a field called `new`, say).

    A `decimal` field takes every character typed (no `restrict`, no `max_length`: a
    dropped character would change the amount) and parses it as the service will, with
    `places`, `max_digits`, `unit` and `allow_zero`; its `name` is the service's label.
    """

    name: str
    label: str
    kind: Literal["text", "password", "select", "checks", "decimal"] = "text"
    placeholder: str = ""
    value: str = ""
    choices: tuple[str, ...] = ()
    checked: tuple[str, ...] = ()
    restrict: str | None = None
    max_length: int = 0
    errors_of: tuple[str, ...] = ()
    places: int = 2
    max_digits: int = 15
    unit: str = ""
    allow_zero: bool = False

    def parse(self, raw: str) -> Decimal:
        """A decimal field's value, or the services' ValidationError naming this field."""
        return validation.decimal_value(
            raw,
            self.name,
            places=self.places,
            max_digits=self.max_digits,
            allow_zero=self.allow_zero,
            unit=self.unit,
        )


class DecimalCheck(Validator):
    """Runs a decimal field's parser on every change of its input."""

    def __init__(self, field: Field) -> None:
        super().__init__()
        self.field = field

    def validate(self, value: str) -> ValidationResult:
        try:
            self.field.parse(value)
        except ValidationError as exc:
            return self.failure(str(exc), value)
        return self.success()


class FormModal(ModalScreen[T | None], Generic[T]):
    """Dismissed with whatever `submit(values)` returns, or None when cancelled.

    `submit` runs in a thread worker through the app's bridge (it may call several
    services); the typed values live only in this screen and that call.
    """

    BINDINGS = [
        Binding("ctrl+s", "submit", "Save"),
        Binding("escape", "cancel", "Cancel"),
        enter_binding(),
    ]

    def __init__(
        self,
        title: str,
        fields: list[Field],
        submit: Callable[[Values], T],
        *,
        hint: str = "",
        submit_label: str = "Save",
        confirm: Callable[[Values], ModalScreen[bool]] | None = None,
    ) -> None:
        """`confirm`, given the values with decimal fields parsed, returns the question
        (a `Confirm`) asked after the form is valid and before `submit` runs."""
        super().__init__()
        self.title_text, self.fields, self.submit_fn = title, fields, submit
        self.hint, self.submit_label, self.confirm_fn = hint, submit_label, confirm
        self.invalid: set[str] = set()  # the decimal fields wrong as typed
        self.busy = False  # submitted, waiting for the service: Ctrl+S again does nothing

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
        yield KeyFooter()

    def _inputs(self, field: Field) -> ComposeResult:
        if field.kind == "select":
            options = [(choice, choice) for choice in field.choices]
            yield Select(options, value=field.value, id=field.name, allow_blank=False, compact=True)
        elif field.kind == "checks":
            for choice in field.choices:
                yield Tick(
                    choice,
                    choice in field.checked,
                    id=f"{field.name}-{choice}",
                    classes=f"checks-{field.name}",
                    compact=True,
                )
        elif field.kind == "decimal":
            yield TextField(
                value=field.value,
                placeholder=field.placeholder,
                validators=[DecimalCheck(field)],
                validate_on=["changed"],
                valid_empty=True,  # an empty field is unfinished, not wrong: refused at submit
                id=field.name,
                compact=True,
            )
        else:
            yield TextField(
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

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return action != "enter_field" or in_text_field(self)

    async def action_enter_field(self) -> None:
        """Enter moves to the next text field; on the last one it submits."""
        await enter_field(self, self.action_submit)

    @on(Input.Changed)
    def check_as_typed(self, event: Input.Changed) -> None:
        """A decimal field shows why it is wrong while it is, and the submit button is
        off meanwhile."""
        field = self._field_for(event.input.id)
        if field is None or field.kind != "decimal" or event.validation_result is None:
            return
        failures = event.validation_result.failure_descriptions
        self._mark(field, failures[0] if failures else "", focus=False)
        self.invalid.discard(field.name)
        if failures:
            self.invalid.add(field.name)
        self.query_one("#submit", Button).disabled = bool(self.invalid)

    def _parsed(self, values: Values) -> Values | None:
        """The values with decimal fields parsed; None (the first error shown) if one
        does not parse."""
        parsed = dict(values)
        for field in self.fields:
            if field.kind != "decimal":
                continue
            try:
                parsed[field.name] = field.parse(values[field.name])
            except ValidationError as exc:
                self.show_errors(field.name, str(exc))
                return None
        return parsed

    @on(Button.Pressed, "#submit")
    def action_submit(self) -> None:
        if self.busy:
            return
        values = self.values()
        parsed = self._parsed(values)
        if parsed is None:
            return
        self.show_errors(None, "")
        if self.confirm_fn is None:
            self._start(values)
            return
        self.app.push_screen(
            self.confirm_fn(parsed), lambda yes: self._start(values) if yes else None
        )

    def _start(self, values: Values) -> None:
        self.busy = True
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
        self.busy = False
        self.query_one("#submit", Button).disabled = bool(self.invalid)

    def _field_for(self, name: str | None) -> Field | None:
        if name is None:
            return None
        return next((f for f in self.fields if name == f.name or name in f.errors_of), None)

    def _mark(self, field: Field, message: str, *, focus: bool = True) -> None:
        widgets = self._widgets_of(field)
        if message and focus and field.kind == "password":
            # a retry is typed afresh, not after the refused password
            self.query_one(f"#{field.name}", Input).value = ""
        error = self.query_one(f"#{field.name}-error", Static)
        error.update(message)
        error.display = bool(message)
        for widget in widgets:
            widget.set_class(bool(message), "-invalid")
        if message and focus:
            widgets[0].focus()

    def _widgets_of(self, field: Field) -> list[Widget]:
        if field.kind == "checks":
            return list(self.query(f".checks-{field.name}"))
        return [self.query_one(f"#{field.name}")]

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
