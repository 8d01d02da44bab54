"""The copy menu: the selected event as JSON, as Pretty, or as curl (OSC 52: works over SSH)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option


class CopyScreen(ModalScreen[str | None]):
    """Pick a format; returns ``json``, ``pretty`` or ``curl``."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "pick('json')", "JSON"),
        Binding("p", "pick('pretty')", "Pretty"),
        Binding("u", "pick('curl')", "curl"),
        Binding("escape", "pick('')", "Cancel"),
    ]

    def __init__(self, dialect: str) -> None:
        super().__init__()
        self.dialect = dialect

    def compose(self) -> ComposeResult:
        """The three formats."""
        with Vertical(id="copy-dialog"):
            yield Static("Copy the selected event to the clipboard", id="copy-title")
            yield OptionList(
                Option("j  JSON: the event as stored", id="json"),
                Option(f"p  Pretty: the call in {self.dialect}", id="pretty"),
                Option("u  curl: a command that sends it again", id="curl"),
                id="copy-options",
            )

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_pick(self, choice: str) -> None:
        """Close with a format ('' cancels)."""
        self.dismiss(choice or None)
