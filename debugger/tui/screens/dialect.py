"""Pick the Pretty dialect from the list (``L``, or a click on the dialect name)."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from debugger.core.pretty.render import DIALECTS

AUTO = "auto"


class DialectScreen(ModalScreen[str | None]):
    """Returns a dialect, ``auto`` (follow the sender), or ``None`` (cancelled)."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "dismiss(None)", "Cancel")]

    def __init__(self, current: str, sender: str) -> None:
        super().__init__()
        self.current, self.sender = current, sender

    def compose(self) -> ComposeResult:
        """The dialects, the current one highlighted."""
        with Vertical(id="dialect-dialog"):
            yield Static("Show the Pretty view as", id="dialect-title")
            options = [Option(f"the sender's own ({self.sender})", id=AUTO)]
            options += [Option(d, id=d) for d in DIALECTS]
            yield OptionList(*options, id="dialect-options")

    def on_mount(self) -> None:
        """Start on the dialect in use."""
        options = self.query_one(OptionList)
        options.highlighted = DIALECTS.index(self.current) + 1 if self.current in DIALECTS else 0

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
