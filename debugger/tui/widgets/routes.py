"""The Routes tab's content: each destination of the routing file, delivered or blocked and why (docs/routing.md)."""

from __future__ import annotations

from typing import Any

from rich.text import Text

from debugger.core.pretty.render import inert
from debugger.core.routing import Routing, route


def routes_view(event: dict[str, Any] | None, routing: Routing) -> Text:
    """One line per destination: ``→ Amplitude: blocked, consent category Analytics is off`` (red when blocked)."""
    if event is None:
        return Text("")
    text = Text()
    for verdict in route(routing, event.get("stored")):
        text.append("→ ", style="bold")
        text.append(inert(verdict.sentence(), 1000), style="green" if verdict.delivered else "red")
        text.append(f"  ({verdict.mode} mode)\n", style="dim")
    text.rstrip()
    return text
