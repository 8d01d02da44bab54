"""The paste dialog: text in, validated by the HTTP core, events out (stored by the caller)."""

from __future__ import annotations

import uuid
from collections import Counter
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Button, Static, TextArea

from debugger.core.inputs import paste
from debugger.core.pretty.render import inert
from debugger.store.clock import now_utc

FORMS = (
    'a JSON message · a batch {"batch": [...]} · a JSON array · NDJSON · a curl command · '
    "analytics.track(...)/identify/page/screen/group/alias calls (JS, node, Python, Ruby, PHP)"
)


def summary(pasted: paste.Pasted) -> Text:
    """``✓ batch of 3 → 3 events: 2 ok, 1 invalid (no_user_anon_id)`` and any notes."""
    events = [e for o in pasted.outcomes for e in o.events]
    statuses = Counter(e.status for e in events)
    codes = sorted({p.code for e in events for p in e.problems})
    text = Text("✓ ", style="bold green")
    text.append(f"{pasted.form} → {len(events)} event{'s' if len(events) != 1 else ''}")
    if events:
        text.append(": " + ", ".join(f"{n} {s}" for s, n in sorted(statuses.items())))
    if codes:
        text.append(f"  problems: {inert(', '.join(codes), 200)}", style="yellow")
    for note in pasted.notes:
        text.append(f"\n  {inert(note, 200)}", style="dim")
    return text


class PasteScreen(ModalScreen[paste.Pasted | None]):
    """Paste or type; the result line says what would be stored, or what is wrong and where."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "store", "Store"), Binding("escape", "cancel", "Cancel")]

    def __init__(self, text: str = "") -> None:
        super().__init__()
        self.initial = text
        self._timer: Timer | None = None

    def compose(self) -> ComposeResult:
        """The text area, the verdict, the buttons."""
        with Vertical(id="paste-dialog"):
            yield Static(
                Text.assemble(
                    ("Paste a payload", "bold"),
                    ": validated exactly as if it arrived over HTTP, stored with source ",
                    ("paste", "bold"),
                    " (a curl command keeps its write key), never sent anywhere.\n",
                    (FORMS, "dim"),
                ),
                id="paste-help",
            )
            yield TextArea(self.initial, id="paste-text", soft_wrap=True, show_line_numbers=True)
            yield Static("", id="paste-result")
            with Horizontal(id="paste-buttons"):
                yield Button("Store  ctrl+s", id="paste-store", variant="primary")
                yield Button("Cancel  esc", id="paste-cancel")

    def on_mount(self) -> None:
        """Focus the text and check what was pasted in."""
        self.query_one(TextArea).focus()
        if self.initial:
            self.check()

    @on(TextArea.Changed)
    def _changed(self) -> None:
        if self._timer is not None:
            self._timer.stop()
        self._timer = self.set_timer(0.2, self.check)

    def _handle(self) -> paste.Pasted:
        clock = getattr(self.app, "clock", None)
        return paste.handle(
            self.query_one(TextArea).text,
            received_at=clock() if clock is not None else now_utc(),
            new_id=lambda: str(uuid.uuid4()),
        )

    def check(self) -> paste.Pasted | None:
        """Validate the text now and show the verdict."""
        result = self.query_one("#paste-result", Static)
        if not self.query_one(TextArea).text.strip():
            result.update(Text("Waiting for text…", style="dim"))
            return None
        try:
            pasted = self._handle()
        except paste.PasteError as exc:
            result.update(Text("✗ " + inert(exc.message, 400), style="bold red"))
            result.set_class(True, "-error")
            return None
        result.set_class(False, "-error")
        result.update(summary(pasted))
        return pasted

    @on(Button.Pressed, "#paste-store")
    def action_store(self) -> None:
        """Store what the text holds, or show why it cannot be stored."""
        pasted = self.check()
        if pasted is not None:
            self.dismiss(pasted)

    @on(Button.Pressed, "#paste-cancel")
    def action_cancel(self) -> None:
        """Close without storing."""
        self.dismiss(None)
